/**
 * Claim before spend: the one way any node takes records of a job for a request that pays —
 * LLM Batch Call's attempts (through its checkpoint) and LLM Batch Job's batch submissions.
 * A claim is a lease in the records table (LedgerStore.claim: one conditional upsert per
 * record, atomic on both stores); a record another owner holds is `busy` until its lease ends
 * or its owner is known dead.
 */
import { randomUUID } from 'node:crypto';
import { readlinkSync } from 'node:fs';
import { hostname } from 'node:os';

import type { ClaimEntry, ClaimState, LedgerStore } from './types';

/** Claims are renewed at each attempt; a lease this long survives slow attempts. */
export const DEFAULT_LEASE_MS = 5 * 60_000;

/**
 * The process namespace this process sees pids in: two containers may share a hostname
 * (compose `hostname:`) and even a pid, never a pid namespace. Linux only; '' elsewhere.
 */
function pidNamespace(): string {
	try {
		return readlinkSync('/proc/self/ns/pid');
	} catch {
		return '';
	}
}

/** This process, as written into its claims: where its pids live, its pid, a per-process ID. */
const PROCESS_ID = randomUUID();
const HOST = `${hostname()}/${pidNamespace()}`;

/** `host/pid-namespace|pid|process-id|execution-id` */
export function claimOwner(execution: string = randomUUID()): string {
	return [HOST, process.pid, PROCESS_ID, execution].join('|');
}

/**
 * Whether the owner of a claim is known to be gone: a process of this host and pid namespace
 * that no longer runs, or whose pid now belongs to another process start (this one, after a
 * restart). Owners elsewhere (another host, another container) are only ever known dead by
 * their lease running out.
 */
export function ownerIsDead(owner: string): boolean {
	const [host, pidText, processId] = owner.split('|');
	const pid = Number(pidText);
	if (host !== HOST || !Number.isInteger(pid) || pid <= 0 || processId === undefined) return false;
	if (pid === process.pid) return processId !== PROCESS_ID;
	try {
		process.kill(pid, 0);
		return false;
	} catch (error) {
		return (error as NodeJS.ErrnoException).code === 'ESRCH';
	}
}

/**
 * Claims `entries` for `owner` until `now + leaseMs`. Leases held by a process of this host
 * that has died (a crash, then a rerun) are ended and the records claimed again at once,
 * instead of after their lease.
 */
export async function claimRecords(
	store: LedgerStore,
	job: string,
	entries: readonly ClaimEntry[],
	owner: string,
	now: number,
	leaseMs: number,
): Promise<Map<string, ClaimState>> {
	const at = new Date(now).toISOString();
	const until = new Date(now + leaseMs).toISOString();
	const states = await store.claim(job, entries, owner, at, until);
	const dead = new Set<string>();
	for (const state of states.values()) {
		if (state.status === 'busy' && state.owner !== '' && ownerIsDead(state.owner))
			dead.add(state.owner);
	}
	if (dead.size === 0) return states;
	for (const gone of dead) await store.expireClaims(job, gone);
	const again = entries.filter((e) => {
		const state = states.get(e.recordId);
		return state?.status === 'busy' && dead.has(state.owner);
	});
	for (const [id, state] of await store.claim(job, again, owner, at, until)) states.set(id, state);
	return states;
}

/**
 * How long a batch submission holds its records: a batch runs up to 24 hours and its results
 * can be read for 29 days (Anthropic; OpenAI keeps its files longer), and no other execution
 * may pay for a record before Collect has published its answer. Collect's final write ends the
 * claim (the record is no longer `processing`); a refused or abandoned create ends it at once.
 */
export const SUBMISSION_LEASE_MS = 29 * 24 * 60 * 60_000;

/**
 * The owner of a submission's claims: the submission (its nonce), not the process that made
 * it — the process ends long before the batch does, and a claim of a dead process would be
 * taken over (claimRecords), which for a live batch would pay for its records twice.
 */
export function submissionOwner(nonce: string): string {
	return `batch-submission|${nonce}`;
}

/** Whether a claim's owner is a batch submission (its records wait for Collect, not for an execution). */
export function isSubmissionOwner(owner: string): boolean {
	return owner.startsWith('batch-submission|');
}

/** Claims records for the batch submission `nonce` (see SUBMISSION_LEASE_MS). */
export function claimForSubmission(
	store: LedgerStore,
	job: string,
	entries: readonly ClaimEntry[],
	nonce: string,
	now: number,
): Promise<Map<string, ClaimState>> {
	return claimRecords(store, job, entries, submissionOwner(nonce), now, SUBMISSION_LEASE_MS);
}

/** Frees what the submission `nonce` holds: the provider never created its batch. */
export function releaseSubmission(store: LedgerStore, job: string, nonce: string): Promise<number> {
	return store.expireClaims(job, submissionOwner(nonce));
}
