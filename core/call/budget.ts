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
 * The reservations live in a `SpendStore` (spend-store.ts); requests are priced by a `Pricing`
 * (pricing.ts).
 */
import { randomUUID } from 'node:crypto';

import type { MaxTokens, Pricing } from './pricing';
import { onAbort } from '../abort';
import { exceeds, MemorySpendStore, type SpendStore } from './spend-store';
import type { Usage } from '../types';

/** A reservation: what a request may cost, then what it cost. */
export interface Ticket {
	readonly id: string;
	readonly model: string;
	readonly maxUsd: number;
	/** What its answer cost (0 until settled). */
	paidUsd: number;
}

export type Reservation = { ticket: Ticket } | { refused: string };

export interface MeterOptions {
	readonly pricing: Pricing;
	/** The cap in USD; undefined or 0: no cap (requests are priced, nothing is reserved). */
	readonly capUsd?: number;
	/** @default a MemorySpendStore (a cap per run) */
	readonly store?: SpendStore;
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
				detach();
				resolve();
			};
			this.wake.push(done);
			const detach = onAbort(signal, done);
		});
	}

	private notify(): void {
		const waiting = this.wake;
		this.wake = [];
		for (const w of waiting) w();
	}
}
