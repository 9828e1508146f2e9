/**
 * The job-level operations of LLM Batch Job over a provider's batch API and the ledger:
 * submit (skipping what is live or done), adoption after a crash, resubmit, and the helpers
 * Check Status and Collect share (status.ts, collect.ts). Pure orchestration: no n8n import;
 * the node turns the results into items.
 */
import { randomUUID } from 'node:crypto';

import { LlmBatchError, classifyError } from '../call/errors';
import type { ChatRequest } from '../call/providers/types';
import { claimOwner, ownerIsDead } from '../ledger/checkpoint';
import {
	parsePendingId,
	pendingBatchId,
	type BatchJobStore,
	type BatchRow,
} from '../ledger/batches';
import { countNotReused, storedAnswerVerdict, type NotReused } from '../identity';
import type { LedgerStore } from '../ledger/types';
import type { Clock } from '../types';
import { adoptionWindow, nextAdoptionStep, verdictOf, type Verdict } from './adoption';
import { splitIntoBatches, type BatchCaps } from './caps';
import { customIdFor } from './custom-id';
import type { BatchApi, BatchStatus } from './types';

/** One record ready for a batch: built by the same input policy as LLM Batch Call. */
export interface PreparedRecord {
	/** Position of the input item in the Submit execution. */
	index: number;
	recordId: string;
	promptHash: string;
	request: ChatRequest;
	/** The input item's JSON (emitted again by Collect). */
	item: Record<string, unknown>;
	/** Submission round: 1 first, +1 per resubmission. @default 1 */
	round?: number;
}

export interface JobContext {
	readonly api: BatchApi;
	readonly store: LedgerStore;
	readonly batches: BatchJobStore;
	readonly job: string;
	readonly clock: Pick<Clock, 'now'>;
	/** Tells what adoption after a crash decided (the node shows it as a hint and logs it). */
	readonly log?: (message: string) => void;
}

export type SkipReason = 'succeeded' | 'in_batch' | 'duplicate';

export interface SubmitResult {
	created: Array<BatchStatus & { requestCount: number; round: number }>;
	skipped: Array<{ index: number; recordId: string; reason: SkipReason; batchId?: string }>;
	/** Stored answers of the same call not reused (another endpoint or credential): sent again. */
	notReused?: NotReused;
}

/** Codes a resubmission can fix; an invalid request stays invalid. */
export const RESUBMITTABLE: ReadonlySet<string> = new Set([
	'expired',
	'canceled',
	'server_error',
	'rate_limited',
	'timeout',
	'connection',
]);

export const iso = (ms: number) => new Date(ms).toISOString();

function batchRowFor(
	ctx: JobContext,
	status: BatchStatus,
	o: { model: string; requestCount: number; round: number; at: string },
): BatchRow {
	return {
		job: ctx.job,
		batchId: status.id,
		provider: ctx.api.provider,
		model: o.model,
		state: status.state,
		providerStatus: status.providerStatus,
		requestCount: o.requestCount,
		counts: status.counts,
		round: o.round,
		createdAt: status.createdAt,
		expiresAt: status.expiresAt ?? null,
		endedAt: status.endedAt ?? null,
		collectedAt: null,
		updatedAt: o.at,
	};
}

/**
 * Reads a candidate batch's results until the first line whose custom_id is not one of the
 * records of `owner` (the intent's placeholder or the provisional batch's ID): the verdict
 * adoption.ts bases an adoption on. No line is published here.
 */
async function readVerdict(
	ctx: JobContext,
	batchId: string,
	owner: string,
	model: string,
): Promise<Verdict> {
	let lines = 0;
	let matched = 0;
	let chunk: string[] = [];
	const check = async () => {
		const found = await ctx.batches.entriesByCustomId(ctx.job, owner, chunk);
		lines += chunk.length;
		for (const id of chunk) if (found.has(id)) matched++;
		chunk = [];
		return matched === lines;
	};
	for await (const page of ctx.api.results(batchId, model)) {
		for (const line of page) {
			chunk.push(line.customId);
			if (chunk.length >= COLLECT_CHUNK && !(await check())) return 'foreign';
		}
	}
	if (chunk.length > 0) await check();
	return verdictOf({ lines, matched });
}

/**
 * A provisionally adopted batch that has ended: confirmed when its results' custom_ids are
 * the submission's records, else un-adopted (its records free to be submitted again).
 */
export async function settleProvisional(ctx: JobContext, row: BatchRow): Promise<Verdict> {
	const verdict = await readVerdict(ctx, row.batchId, row.batchId, row.model);
	if (verdict === 'ours') {
		await ctx.batches.confirmAdoption(ctx.job, row.batchId);
		ctx.log?.(
			`Job ${ctx.job}: adopted batch ${row.batchId} confirmed (its custom_ids are the job's records)`,
		);
	} else {
		await ctx.batches.unadopt(ctx.job, row.batchId);
		ctx.log?.(
			`Job ${ctx.job}: batch ${row.batchId} was adopted after a crash but its results are not this job's records (another workflow's batch of the same size): un-adopted; its ${row.requestCount} record(s) will be submitted again`,
		);
	}
	return verdict;
}

/**
 * Submissions recorded as intents but never as batches (the process died between the
 * provider's accept and the ledger write, or is still creating them): the batch the provider
 * has for one is adopted (its records are not submitted again) as adoption.ts decides —
 * exactly by key (OpenAI), or the one same-sized unowned batch of its window, provisionally,
 * or the ended candidate whose custom_ids are its records (Anthropic); an intent the provider
 * has no batch for frees its records. Provisional batches that have ended are settled here too.
 */
export async function resolvePending(ctx: JobContext, model?: string): Promise<void> {
	for (const batchId of await ctx.batches.provisional(ctx.job)) {
		const [row] = (await ctx.batches.batches(ctx.job)).filter((b) => b.batchId === batchId);
		if (!row || row.collectedAt !== null) continue;
		const status = await ctx.api.retrieve(batchId);
		if (status.state === 'ended') await settleProvisional(ctx, row);
	}
	const pending = await ctx.batches.pending(ctx.job);
	for (const p of pending) {
		const parsed = parsePendingId(p.pendingId);
		if (!parsed) continue;
		const writtenAt = Date.parse(p.submittedAt);
		const found = await ctx.api.findSubmission(parsed.key, {
			after: adoptionWindow(writtenAt).from,
			count: p.count,
		});
		const owned = await ctx.batches.ownedBatchIds(found.batches.map((b) => b.id));
		const [entry] = await ctx.batches.unemittedEntries(ctx.job, p.pendingId, 1);
		const request = entry ? (JSON.parse(entry.request) as ChatRequest) : undefined;
		const requestModel = request?.model ?? model ?? '';
		const verdicts = new Map<string, Verdict>();
		const ownerGone = ownerIsDead(parsed.owner);
		for (;;) {
			const step = nextAdoptionStep({
				writtenAt,
				count: p.count,
				ownerGone,
				found,
				owned,
				verdicts,
				now: ctx.clock.now(),
			});
			if (step.kind === 'verify') {
				for (const b of step.batches)
					verdicts.set(b.id, await readVerdict(ctx, b.id, p.pendingId, requestModel));
				continue;
			}
			if (step.kind === 'adopt') {
				await ctx.batches.adoptPending(
					ctx.job,
					p.pendingId,
					batchRowFor(ctx, step.batch, {
						model: requestModel,
						requestCount: p.count,
						round: entry?.round ?? 1,
						at: iso(ctx.clock.now()),
					}),
					{ provisional: step.provisional },
				);
				ctx.log?.(
					`Job ${ctx.job}: adopted batch ${step.batch.id} for ${p.count} record(s) a crashed Submit sent${step.provisional ? ' (provisionally: its custom_ids are checked when it ends, before anything is published)' : ''}`,
				);
			} else if (step.kind === 'abandon') {
				await ctx.batches.abandonPending(ctx.job, p.pendingId);
			} else if (verdicts.size > 0 || found.batches.length > 1) {
				ctx.log?.(`Job ${ctx.job}: ${p.count} record(s) of a crashed Submit wait: ${step.reason}`);
			}
			break;
		}
	}
}

/**
 * Submits the records that are neither done (succeeded with the same prompt) nor in a batch
 * whose results were not collected yet, split at the caps. Each batch is recorded in the
 * ledger as soon as the provider accepted it, so a crash after that never resubmits it.
 */
export async function submitRecords(
	ctx: JobContext,
	records: readonly PreparedRecord[],
	o: { caps: BatchCaps; batchSize?: number; model: string },
): Promise<SubmitResult> {
	const { api, store, batches, job } = ctx;
	await resolvePending(ctx, o.model);
	const owner = claimOwner();
	const skipped: SubmitResult['skipped'] = [];
	const fresh: PreparedRecord[] = [];
	const seen = new Set<string>();
	for (const r of records) {
		if (seen.has(r.recordId))
			skipped.push({ index: r.index, recordId: r.recordId, reason: 'duplicate' });
		else {
			seen.add(r.recordId);
			fresh.push(r);
		}
	}
	const ids = fresh.map((r) => r.recordId);
	const [known, entries] = await Promise.all([store.getMany(job, ids), batches.entries(job, ids)]);
	const todo: PreparedRecord[] = [];
	const notReused: NotReused = { otherScope: 0, beforeScope: 0 };
	for (const r of fresh) {
		const rec = known.get(r.recordId);
		const entry = entries.get(r.recordId);
		const verdict =
			rec?.status === 'succeeded' ? storedAnswerVerdict(rec.promptHash, r.promptHash) : undefined;
		if (verdict === 'reuse') {
			skipped.push({ index: r.index, recordId: r.recordId, reason: 'succeeded' });
		} else if (entry && !entry.emitted) {
			skipped.push({
				index: r.index,
				recordId: r.recordId,
				reason: 'in_batch',
				batchId: entry.batchId,
			});
		} else {
			if (verdict) countNotReused(notReused, verdict);
			todo.push(r);
		}
	}

	const lines = todo.map((r) => api.requestLine(customIdFor(r.recordId), r.request));
	const ranges = splitIntoBatches(
		lines.map((l) => Buffer.byteLength(l)),
		o.caps,
		o.batchSize ?? 0,
	);
	const created: SubmitResult['created'] = [];
	for (const [start, end] of ranges) {
		const part = todo.slice(start, end);
		// reduce, not Math.max(...spread): a batch holds up to 100,000 records (too many arguments).
		const round = part.reduce((m, r) => Math.max(m, r.round ?? 1), 1);
		// The intent first: the entries point at a placeholder until the provider's batch ID
		// is known, and the batch carries the submission key, so a crash after the provider
		// accepted it is adopted by the next run instead of submitting the records again.
		const key = randomUUID();
		const pendingId = pendingBatchId(key, owner);
		const at0 = iso(ctx.clock.now());
		await batches.addPending(
			job,
			pendingId,
			part.map((r) => ({
				recordId: r.recordId,
				customId: customIdFor(r.recordId),
				batchId: pendingId,
				promptHash: r.promptHash,
				request: JSON.stringify(r.request),
				item: JSON.stringify(r.item),
				itemIndex: r.index,
				round: r.round ?? 1,
				emitted: false,
				submittedAt: at0,
			})),
		);
		const status = await api
			.create(lines.slice(start, end), {
				job: job.slice(0, 512),
				records: String(end - start),
				submission: key,
			})
			.catch(async (e: unknown) => {
				// Refused outright: nothing was created, the records are free now. No answer:
				// resolvePending decides on the next run whether the provider has it after all.
				const err = e instanceof LlmBatchError ? e : classifyError(e, api.provider, 0);
				if (!err.retryable) await batches.abandonPending(job, pendingId);
				return Promise.reject(e);
			});
		const at = iso(ctx.clock.now());
		await batches.adoptPending(
			job,
			pendingId,
			batchRowFor(ctx, status, { model: o.model, requestCount: end - start, round, at }),
		);
		await store.markProcessing(
			job,
			part.map((r) => ({ recordId: r.recordId, promptHash: r.promptHash })),
			at,
		);
		created.push({ ...status, requestCount: end - start, round });
	}
	return { created, skipped, notReused };
}

/** The job's batches whose results are not collected yet (or the given IDs), refreshed from the provider. */
export async function liveRows(ctx: JobContext, batchIds?: readonly string[]): Promise<BatchRow[]> {
	await resolvePending(ctx);
	const rows = await ctx.batches.batches(ctx.job, {
		uncollected: !batchIds || batchIds.length === 0,
	});
	return batchIds && batchIds.length > 0 ? rows.filter((r) => batchIds.includes(r.batchId)) : rows;
}

export async function refresh(ctx: JobContext, row: BatchRow): Promise<BatchStatus> {
	const status = await ctx.api.retrieve(row.batchId);
	await ctx.batches.updateBatch(
		ctx.job,
		row.batchId,
		{
			state: status.state,
			providerStatus: status.providerStatus,
			counts: status.counts,
			endedAt: status.endedAt,
		},
		iso(ctx.clock.now()),
	);
	return status;
}

/** Asks the provider to cancel; what had finished is still collected. */
export async function cancelBatch(ctx: JobContext, row: BatchRow): Promise<BatchStatus> {
	if ((await ctx.batches.provisional(ctx.job)).includes(row.batchId)) {
		// Adopted without proof it is ours: it may be another workflow's batch, never cancelled.
		ctx.log?.(
			`Job ${ctx.job}: batch ${row.batchId} not cancelled: adopted after a crash, not yet proved this job's`,
		);
		return await ctx.api.retrieve(row.batchId);
	}
	const status = await ctx.api.cancel(row.batchId);
	await ctx.batches.updateBatch(
		ctx.job,
		row.batchId,
		{ state: status.state, providerStatus: status.providerStatus, counts: status.counts },
		iso(ctx.clock.now()),
	);
	return status;
}

/**
 * Result lines joined, classified and committed per chunk of this many: what Collect holds
 * at a time (entries with their requests, parsed lines) whatever the batch size.
 */
export const COLLECT_CHUNK = 200;

/**
 * The job's records whose last outcome was a retryable failure (server error, expired,
 * canceled…) and that have had fewer than `maxRounds` submissions, as records to submit again.
 */
export async function resubmittable(
	ctx: JobContext,
	o: { maxRounds: number },
): Promise<{ records: PreparedRecord[]; overLimit: number; notRetryable: number }> {
	const out: PreparedRecord[] = [];
	let overLimit = 0;
	let notRetryable = 0;
	let after = '';
	for (;;) {
		const page = await ctx.batches.listEntries(ctx.job, after, 1000);
		if (page.length === 0) break;
		after = page[page.length - 1].recordId;
		const emitted = page.filter((e) => e.emitted);
		const records = await ctx.store.getMany(
			ctx.job,
			emitted.map((e) => e.recordId),
		);
		for (const entry of emitted) {
			const rec = records.get(entry.recordId);
			if (rec?.status !== 'failed' || !rec.lastError) continue;
			if (!RESUBMITTABLE.has(rec.lastError.code)) {
				notRetryable++;
				continue;
			}
			if (entry.round >= o.maxRounds) {
				overLimit++;
				continue;
			}
			out.push({
				index: entry.itemIndex,
				recordId: entry.recordId,
				promptHash: entry.promptHash,
				request: JSON.parse(entry.request) as ChatRequest,
				item: JSON.parse(entry.item) as Record<string, unknown>,
				round: entry.round + 1,
			});
		}
	}
	return { records: out, overLimit, notRetryable };
}
