/**
 * A run's use of the ledger's claims (core/ledger/checkpoint.ts holds the promise: claim before
 * spend): a record is claimed before every attempt, a grouped request's records together; an
 * answer another execution stored is used as is; what a failure paid is recorded with its
 * write. The runner asks here; the checkpoint decides.
 */
import type { CostMeter, Ticket } from './budget';
import type { Outcome, RunItem } from './types';
import { isSubmissionOwner } from '../ledger/claims';
import type { Checkpoint } from '../ledger/types';
import type { ItemError, LlmResult } from '../types';

/** The ledger says another execution holds the record: try again once the others are done. */
export interface Deferred {
	deferred: true;
}

/** How the run books an item that ends here (its counters). */
export interface Booking {
	fail(item: RunItem, error: ItemError): Outcome;
	fromLedger(item: RunItem, stored: LlmResult): Outcome;
}

export class RunClaims {
	/** Items whose record this run claimed in the ledger at least once. */
	private readonly claimed = new Set<RunItem>();
	/** Grouped requests that lost a record's claim (see `lostClaim`). */
	private readonly lostClaims = new Set<RunItem>();
	/** Grouped requests' paid tickets: core/call/group.ts says how much of them is stored. */
	private readonly groupTickets = new Map<RunItem, Ticket[]>();

	constructor(
		readonly checkpoint: Checkpoint | undefined,
		private readonly meter: CostMeter,
		private readonly book: Booking,
	) {}

	/**
	 * Claims the item's record in the ledger (when there is one): undefined when this run may
	 * send it, else the outcome — the stored answer, or deferred while another execution holds it.
	 */
	async claim(item: RunItem): Promise<Outcome | Deferred | undefined> {
		if (!this.checkpoint) return undefined;
		// A grouped request is no record: its records' claims are renewed together; one lost to
		// another execution (its lease ran out) ends the group unsent, for core/call/group.ts to
		// send its records alone.
		if (item.group) return item.members ? this.claimGroup(item, item.members) : undefined;
		// A re-ask from the workflow adds what the record paid before to its result: the ledger
		// must not keep that failure's cost apart as well.
		const claim = await this.checkpoint.claim(
			item.recordId,
			item.promptHash,
			item.priorUsage !== undefined,
		);
		if (claim.status === 'done') return this.book.fromLedger(item, claim.result);
		// A provider batch holds it until Collect publishes its answer (hours): not waited for.
		if (claim.status === 'busy' && isSubmissionOwner(claim.owner))
			return this.book.fail(item, {
				code: 'canceled',
				message:
					'This record is in a provider batch of LLM Batch Job under the same job name: its answer comes from Collect Results; not sent again',
				retryable: false,
				attempts: 0,
			});
		if (claim.status === 'busy') return { deferred: true };
		this.claimed.add(item);
		return undefined;
	}

	private async claimGroup(
		item: RunItem,
		members: NonNullable<RunItem['members']>,
	): Promise<Outcome | undefined> {
		const cp = this.checkpoint!;
		const states = await Promise.all(members.map((m) => cp.claim(m.recordId, m.promptHash)));
		if (states.every((c) => c.status === 'claimed')) return undefined;
		this.lostClaims.add(item);
		return this.book.fail(item, {
			code: 'canceled',
			message: 'Another execution of the job took over a record of this group; not sent',
			retryable: true,
			attempts: 0,
		});
	}

	/** Whether this run claimed the item's record (another execution may hold the others). */
	holds(item: RunItem): boolean {
		return this.claimed.has(item);
	}

	/** Whether a grouped request ended unsent because another execution took over one of its records. */
	lostClaim(item: RunItem): boolean {
		return this.lostClaims.has(item);
	}

	/** The item's failure, stored when this run claimed its record. */
	failed(item: RunItem, error: ItemError): void {
		if (this.claimed.has(item)) this.checkpoint?.failed(item.recordId, item.promptHash, error);
	}

	/**
	 * A result is stored (its own group commit) before the slot is let go, so a crash loses at
	 * most the `concurrency` results in flight, never one more sent after an unsaved answer. A
	 * failed commit rejects here and fails the run loudly: the answer is paid for.
	 */
	async succeeded(result: LlmResult, tickets: readonly Ticket[]): Promise<void> {
		const cp = this.checkpoint;
		if (!cp) return;
		cp.succeeded(result);
		await (cp.committed ? cp.committed() : cp.flush());
		await this.meter.recorded(tickets);
	}

	/**
	 * What these tickets paid is in the ledger once the item's write is committed: the job
	 * budget then counts it from the stored result instead.
	 */
	recordWhenCommitted(item: RunItem, tickets: readonly Ticket[]): void {
		const cp = this.checkpoint;
		if (!cp || tickets.length === 0 || !this.claimed.has(item)) return;
		const done = cp.committed ? cp.committed() : cp.flush();
		done.then(
			() => this.meter.recorded(tickets),
			() => undefined, // not stored: the tickets keep counting
		);
	}

	/** A grouped request's paid tickets, kept until core/call/group.ts says how much is stored. */
	keepGroupTickets(item: RunItem, tickets: Ticket[]): void {
		this.groupTickets.set(item, tickets);
	}

	/** A grouped request's paid tickets; `share` of them is stored in its records' results. */
	recordGroup(item: RunItem, share: number): Promise<void> {
		const tickets = this.groupTickets.get(item) ?? [];
		this.groupTickets.delete(item);
		return this.meter.recorded(tickets, share);
	}
}
