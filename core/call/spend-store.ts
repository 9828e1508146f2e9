/**
 * Where the cost meter's reservations live (budget.ts): in memory for a cap per run
 * (`MemorySpendStore`), in the ledger for a job budget (`LedgerSpendStore`), where executions
 * of the job running at once reserve from the same total.
 */
import { ownerIsDead } from '../ledger/checkpoint';
import type { LedgerStore, RecordsPaid, SpendVerdict } from '../ledger/types';
import type { Clock } from '../types';

/** What the store answers a reservation: taken, or why not (its figures). */
export type StoreVerdict = SpendVerdict;

/**
 * Where reservations and spend are kept. `reserve` is atomic: it takes `usd` only when what
 * was paid, plus what is reserved, plus `usd` stays within `capUsd`.
 */
export interface SpendStore {
	readonly scope: 'run' | 'job';
	reserve(ticket: string, usd: number, capUsd: number): Promise<StoreVerdict>;
	/** The answer came: the ticket counts what it cost, no longer what it might have. */
	settle(ticket: string, usd: number): Promise<void>;
	/** No answer (an error, a timeout): nothing was billed. */
	release(ticket: string): Promise<void>;
	/** `usd` of the ticket's spend is now in the job's stored results: counted there, not here. */
	recorded(ticket: string, usd: number): Promise<void>;
	/** Resolves when reservations held elsewhere may have ended (never for a run's own store). */
	elsewhere(signal: AbortSignal): Promise<void>;
}

/** The reservations of one run, in memory. */
export class MemorySpendStore implements SpendStore {
	readonly scope = 'run';
	private paid = 0;
	private readonly reserved = new Map<string, number>();

	async reserve(ticket: string, usd: number, capUsd: number): Promise<StoreVerdict> {
		let held = 0;
		for (const v of this.reserved.values()) held += v;
		const recordsPaid = { usd: 0, at: '' };
		if (exceeds(this.paid + held + usd, capUsd))
			return { reserved: false, paidUsd: this.paid, reservedUsd: held, holders: [], recordsPaid };
		this.reserved.set(ticket, usd);
		return { reserved: true, paidUsd: this.paid, reservedUsd: held, recordsPaid };
	}

	async settle(ticket: string, usd: number): Promise<void> {
		this.reserved.delete(ticket);
		this.paid += usd;
	}

	async release(ticket: string): Promise<void> {
		this.reserved.delete(ticket);
	}

	async recorded(): Promise<void> {
		// A run's spend is the run's: nothing is counted anywhere else.
	}

	elsewhere(): Promise<void> {
		// Nothing is held elsewhere: only this run's own settles and releases make room.
		return new Promise<void>(() => undefined);
	}
}

/**
 * How long an execution uses its reading of what the job's records paid (a sum over every
 * record) before it reads again; spend stored since a reading still counts from the spend rows.
 */
export const RECORDS_READING_MS = 10_000;

export interface LedgerSpendOptions {
	readonly clock: Clock;
	/** Who reserves: the execution's claim owner (core/ledger/checkpoint.ts `claimOwner`). */
	readonly owner: string;
	/** How long a reservation holds when its execution dies before settling it. */
	readonly leaseMs: number;
	/** How often reservations of other executions are looked at again while waiting. @default 1000 */
	readonly pollMs?: number;
}

/**
 * A job budget's reservations in the ledger, shared by every execution of the job. The job's
 * spend is what its stored results paid, plus answers paid but not yet stored, plus the
 * reservations of requests in flight. A reservation of an execution that died stops holding
 * when its lease ends (at once when its process is known dead, as a claim does) and counts as
 * paid at its most: the request may have been sent and billed.
 */
export class LedgerSpendStore implements SpendStore {
	readonly scope = 'job';
	private recordsPaid: RecordsPaid | undefined;
	/** When (this execution's clock) the reading above was taken. */
	private readAt = 0;

	constructor(
		private readonly store: LedgerStore,
		private readonly job: string,
		private readonly opts: LedgerSpendOptions,
	) {}

	async reserve(ticket: string, usd: number, capUsd: number): Promise<StoreVerdict> {
		const { clock, owner, leaseMs } = this.opts;
		const ask = async () => {
			const now = clock.now();
			const reading = this.recordsPaid;
			const fresh = reading !== undefined && now - this.readAt < RECORDS_READING_MS;
			const verdict = await this.store.reserveSpend(this.job, {
				ticket,
				owner,
				usd,
				capUsd,
				at: new Date(now).toISOString(),
				reservedUntil: new Date(now + leaseMs).toISOString(),
				...(fresh ? { recordsPaid: reading } : {}),
			});
			if (!fresh) this.readAt = now;
			this.recordsPaid = verdict.recordsPaid;
			return verdict;
		};
		const verdict = await ask();
		if (verdict.reserved) return verdict;
		const dead = verdict.holders.filter((h) => h !== owner && ownerIsDead(h));
		if (dead.length === 0) return verdict;
		for (const h of dead) await this.store.expireSpend(this.job, h);
		return ask();
	}

	settle(ticket: string, usd: number): Promise<void> {
		return this.store.settleSpend(this.job, { ticket, owner: this.opts.owner, usd });
	}

	release(ticket: string): Promise<void> {
		return this.store.releaseSpend(this.job, [ticket]);
	}

	recorded(ticket: string, usd: number): Promise<void> {
		return this.store.recordedSpend(
			this.job,
			ticket,
			usd,
			new Date(this.opts.clock.now()).toISOString(),
		);
	}

	async elsewhere(signal: AbortSignal): Promise<void> {
		try {
			await this.opts.clock.sleep(this.opts.pollMs ?? 1000, signal);
		} catch {
			// stopped while waiting: the caller looks at the signal
		}
	}
}

const EPSILON = 1e-12;

/** Whether `total` passes `cap` (beyond float noise). */
export function exceeds(total: number, cap: number): boolean {
	return total > cap + EPSILON;
}
