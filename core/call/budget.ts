/**
 * The cost meter: the one place that prices requests and keeps a cost cap.
 *
 * One meter per run serves every request the run makes — the primary model's, each fallback
 * model's, grouped requests, re-asks and fresh fixes — each priced by its own model's price.
 * Before a request is sent its maximum cost (estimated prompt tokens plus the output tokens
 * it may produce, at its model's price) is reserved; the answer settles the reservation to
 * what it really cost, and a request that got no answer releases it. A reservation that does
 * not fit under the cap is refused, so whatever the concurrency and however many models or
 * executions spend, the run (or the job) is billed no more than its cap.
 *
 * The reservations live in a `SpendStore`: in memory for a cap per run, in the ledger for a
 * job budget, where executions of the job running at once reserve from the same total.
 */
import { randomUUID } from 'node:crypto';

import { costUsd, priceFor, type Price } from '../cost';
import { ownerIsDead } from '../ledger/checkpoint';
import type { LedgerStore, RecordsPaid, SpendVerdict } from '../ledger/types';
import type { Clock, ServiceTier, Usage } from '../types';

/** How requests are priced. */
export interface Pricing {
	/** USD of `usage` on `model`; undefined when its price is unknown. */
	costOf(model: string, usage: Usage): number | undefined;
	/**
	 * The most a request can cost: every prompt token at the dearest rate it may be billed at
	 * (a prompt-cache write when the request asks for caching) plus `outputTokens`.
	 */
	maxCostOf(model: string, tokens: MaxTokens): number | undefined;
}

export interface MaxTokens {
	inputTokens: number;
	outputTokens: number;
	/** The request asks for prompt caching with this TTL: its prompt may be a cache write. */
	cacheWrite?: '5m' | '1h';
	/** The processing tier the request asks for (OpenAI `service_tier`). */
	serviceTier?: ServiceTier;
}

/**
 * The tiers an answer to a request at `tier` may be billed at: the standard one always (an
 * OpenAI-compatible server that ignores `service_tier` reports none, which is priced as
 * standard), plus the tier asked for; `auto` may land on priority when the project says so.
 */
function billableTiers(tier: ServiceTier | undefined, priorityKnown: boolean): string[] {
	if (tier === 'flex' || tier === 'priority') return ['default', tier];
	if (tier === 'auto' && priorityKnown) return ['default', 'priority'];
	return ['default'];
}

/**
 * Prices from the table, with `overrides` for the models they name (see `priceFor`);
 * `batch`: at the provider's batch-API rate (the model price × its batch discount).
 */
export function modelPricing(
	overrides: Readonly<Record<string, Price>> = {},
	opts: { batch?: boolean } = {},
): Pricing {
	const cost = { overrides, batch: opts.batch === true };
	const mostAt = (model: string, t: MaxTokens, serviceTier: string) =>
		costUsd(
			model,
			{
				inputTokens: t.inputTokens,
				outputTokens: t.outputTokens,
				...(t.cacheWrite
					? {
							cacheWriteTokens: t.inputTokens,
							cacheWrite1hTokens: t.cacheWrite === '1h' ? t.inputTokens : 0,
						}
					: {}),
				serviceTier,
			},
			cost,
		);
	return {
		costOf: (model, usage) => costUsd(model, usage, cost),
		// At the dearest tier the answer may be billed at; unknown if any of them is.
		maxCostOf: (model, t) => {
			const priorityKnown = priceFor(model, overrides)?.tiers?.priority !== undefined;
			let most = 0;
			for (const tier of billableTiers(t.serviceTier, priorityKnown)) {
				const usd = mostAt(model, t, tier);
				if (usd === undefined) return undefined;
				most = Math.max(most, usd);
			}
			return most;
		},
	};
}

/** Pricing by a cost function alone (tests, callers with their own prices): the most is its cost. */
export function functionPricing(
	costOf: (model: string, usage: Usage) => number | undefined,
): Pricing {
	return {
		costOf,
		maxCostOf: (model, t) =>
			costOf(model, { inputTokens: t.inputTokens, outputTokens: t.outputTokens }),
	};
}

/** The models of `models` whose price `pricing` does not know (at `tier`, when one is asked for). */
export function unpricedModels(
	pricing: Pricing,
	models: readonly string[],
	tier?: ServiceTier,
): string[] {
	return models.filter(
		(m) =>
			pricing.maxCostOf(m, { inputTokens: 1, outputTokens: 1, serviceTier: tier }) === undefined,
	);
}

/** A reservation: what a request may cost, then what it cost. */
export interface Ticket {
	readonly id: string;
	readonly model: string;
	readonly maxUsd: number;
	/** What its answer cost (0 until settled). */
	paidUsd: number;
}

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

export type Reservation = { ticket: Ticket } | { refused: string };

export interface MeterOptions {
	readonly pricing: Pricing;
	/** The cap in USD; undefined or 0: no cap (requests are priced, nothing is reserved). */
	readonly capUsd?: number;
	/** @default a MemorySpendStore (a cap per run) */
	readonly store?: SpendStore;
}

const EPSILON = 1e-12;

function exceeds(total: number, cap: number): boolean {
	return total > cap + EPSILON;
}

function usd(n: number): string {
	return `$${n.toFixed(n < 0.01 ? 6 : 4)}`;
}

/** See the module comment. */
export class CostMeter {
	readonly capUsd: number | undefined;
	private readonly pricing: Pricing;
	private readonly store: SpendStore;
	/** Woken by every settle and release of this meter: a waiting reservation tries again. */
	private wake: Array<() => void> = [];
	private readonly noCap: boolean;

	constructor(opts: MeterOptions) {
		this.pricing = opts.pricing;
		this.capUsd = opts.capUsd !== undefined && opts.capUsd > 0 ? opts.capUsd : undefined;
		this.noCap = this.capUsd === undefined;
		this.store = opts.store ?? new MemorySpendStore();
	}

	/** USD of `usage` on `model` at that model's own price; undefined when unknown. */
	readonly costOf = (model: string, usage: Usage): number | undefined =>
		this.pricing.costOf(model, usage);

	/**
	 * Reserves the most a request of `model` can cost before it is sent. Waits while requests
	 * in flight hold what is left of the cap (their answers usually cost less than reserved);
	 * refused when what was already paid leaves no room for it. Undefined when `signal` ends
	 * the wait.
	 */
	async reserve(
		model: string,
		tokens: MaxTokens,
		signal: AbortSignal,
	): Promise<Reservation | undefined> {
		const maxUsd = this.noCap ? 0 : this.pricing.maxCostOf(model, tokens);
		const ticket: Ticket = {
			id: this.noCap ? '' : randomUUID(),
			model,
			maxUsd: maxUsd ?? 0,
			paidUsd: 0,
		};
		if (this.noCap) return { ticket };
		const cap = this.capUsd!;
		if (maxUsd === undefined)
			return {
				refused: `the price of ${model} is unknown, so the cost cap of ${usd(cap)} cannot be kept`,
			};
		for (;;) {
			if (signal.aborted) return undefined;
			const verdict = await this.store.reserve(ticket.id, maxUsd, cap);
			if (verdict.reserved) return { ticket };
			if (exceeds(verdict.paidUsd + maxUsd, cap))
				return { refused: this.refusal(verdict.paidUsd, maxUsd, model, tokens) };
			// Only reservations in flight stand in the way: wait for one to settle or end.
			await Promise.race([this.changed(signal), this.store.elsewhere(signal)]);
		}
	}

	/** The answer came: returns its cost (undefined when the model's price is unknown). */
	async settle(ticket: Ticket, usage: Usage): Promise<number | undefined> {
		const cost = this.pricing.costOf(ticket.model, usage);
		ticket.paidUsd = cost ?? 0;
		if (ticket.id !== '') {
			try {
				await this.store.settle(ticket.id, ticket.paidUsd);
			} finally {
				this.notify();
			}
		}
		return cost;
	}

	/** No answer came: nothing was billed for the ticket. */
	async release(ticket: Ticket): Promise<void> {
		if (ticket.id === '') return;
		try {
			await this.store.release(ticket.id);
		} finally {
			this.notify();
		}
	}

	/**
	 * `share` (0–1) of what these tickets paid is now in the job's stored results (the results
	 * are committed), so the job's total counts it there. Best effort: a ticket left unrecorded
	 * keeps counting, which errs on the side of the cap.
	 */
	async recorded(tickets: readonly Ticket[], share = 1): Promise<void> {
		if (this.store.scope !== 'job' || share <= 0) return;
		for (const t of tickets) {
			if (t.id === '' || t.paidUsd <= 0) continue;
			try {
				await this.store.recorded(t.id, t.paidUsd * share);
			} catch {
				// still counted apart: the cap stays safe
			}
		}
	}

	private refusal(paid: number, maxUsd: number, model: string, t: MaxTokens): string {
		const cap = this.capUsd!;
		const whose = this.store.scope === 'job' ? "the job's cost cap" : 'the cost cap';
		const spent = this.store.scope === 'job' ? 'spent by the job' : 'spent';
		return `${whose} of ${usd(cap)} was reached (${usd(paid)} ${spent}; the next request to ${model} may cost up to ${usd(maxUsd)}: about ${t.inputTokens} prompt tokens and ${t.outputTokens} output tokens)`;
	}

	private changed(signal: AbortSignal): Promise<void> {
		return new Promise((resolve) => {
			if (signal.aborted) return resolve();
			const done = () => {
				signal.removeEventListener('abort', done);
				resolve();
			};
			this.wake.push(done);
			signal.addEventListener('abort', done, { once: true });
		});
	}

	private notify(): void {
		const waiting = this.wake;
		this.wake = [];
		for (const w of waiting) w();
	}
}
