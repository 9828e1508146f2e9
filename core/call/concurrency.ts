/**
 * Requests in flight for one run, adaptive under the configured ceiling: latency
 * rising well above the best seen (2.5x and at least 500 ms), or provider-side failures (5xx, timeouts, connection
 * errors) clustering, lower the limit multiplicatively (at most once per `COOL_MS`); a run of
 * healthy answers raises it by one. A slot is held only while a request is out (and its
 * answer committed): a retry's backoff waits without one.
 */
import { onAbort } from '../abort';

export interface ConcurrencyReport {
	/** In-flight limit now. */
	limit: number;
	/** The configured ceiling. */
	ceiling: number;
	/** Times it was lowered. */
	cuts: number;
}

const EWMA = 0.1;
const LATENCY_FACTOR = 2.5;
/** ...and at least this much slower: a fast local server's jitter (1 ms -> 5 ms) is not congestion. */
const LATENCY_MIN_RISE_MS = 500;
const FAILURE_SHARE = 0.3;
/** Per answer: failures are judged over roughly the last 30 answers, not the last few. */
const DECAY = 0.97;
const COOL_MS = 2_000;

interface SlotWaiter {
	resolve: () => void;
	gone: boolean;
	/** Removes the abort listener once served, so listeners never pile up on a run's signal. */
	detach?: () => void;
}

export class ConcurrencyGate {
	private inUse = 0;
	private limitNow: number;
	private readonly waiters: SlotWaiter[] = [];
	private readonly front: SlotWaiter[] = [];
	private latency = 0;
	private latencySamples = 0;
	private bestLatency = Infinity;
	private failures = 0;
	private answers = 0;
	private okStreak = 0;
	private lastCutAt = -Infinity;
	private cuts = 0;

	constructor(
		readonly ceiling: number,
		private readonly now: () => number,
	) {
		if (!Number.isInteger(ceiling) || ceiling < 1)
			throw new TypeError(`Expected \`concurrency\` to be an integer >= 1, got ${ceiling}`);
		this.limitNow = ceiling;
	}

	get limit(): number {
		return this.limitNow;
	}

	get active(): number {
		return this.inUse;
	}

	/** Waits for a slot; `priority` (a retry) goes before items not yet sent. */
	acquire(signal?: AbortSignal, priority = false): Promise<void> {
		if (signal?.aborted) return Promise.reject(signal.reason);
		if (this.inUse < this.limitNow && this.front.length === 0 && this.waiters.length === 0) {
			this.inUse++;
			return Promise.resolve();
		}
		return new Promise<void>((resolve, reject) => {
			const w: SlotWaiter = { resolve, gone: false };
			const q = priority ? this.front : this.waiters;
			q.push(w);
			if (signal) {
				const abort = () => {
					if (w.gone) return;
					w.gone = true;
					const i = q.indexOf(w);
					if (i >= 0) q.splice(i, 1);
					reject(signal.reason);
				};
				w.detach = onAbort(signal, abort);
			}
		});
	}

	release(): void {
		this.inUse--;
		this.drain();
	}

	private drain(): void {
		while (this.inUse < this.limitNow) {
			const w = this.front.shift() ?? this.waiters.shift();
			if (!w) return;
			if (w.gone) continue;
			w.gone = true;
			w.detach?.();
			this.inUse++;
			w.resolve();
		}
	}

	/** One answered request: its latency and whether the provider failed it. */
	observe(latencyMs: number, providerFailure: boolean): void {
		const now = this.now();
		this.answers = this.answers * DECAY + 1;
		this.failures = this.failures * DECAY + (providerFailure ? 1 : 0);
		let cut = false;
		if (!providerFailure) {
			this.latency =
				this.latencySamples === 0 ? latencyMs : this.latency * (1 - EWMA) + latencyMs * EWMA;
			this.latencySamples++;
			if (this.latencySamples >= 20) {
				this.bestLatency = Math.min(this.bestLatency, this.latency);
				if (
					this.latency > this.bestLatency * LATENCY_FACTOR &&
					this.latency - this.bestLatency >= LATENCY_MIN_RISE_MS
				)
					cut = true;
			}
			this.okStreak++;
		} else {
			this.okStreak = 0;
			if (this.failures >= 3 && this.failures / this.answers >= FAILURE_SHARE) cut = true;
		}
		if (cut && now - this.lastCutAt >= COOL_MS && this.limitNow > 1) {
			this.limitNow = Math.max(1, Math.floor(this.limitNow * 0.75));
			this.lastCutAt = now;
			this.okStreak = 0;
			this.cuts++;
		} else if (!cut && this.okStreak >= this.limitNow && this.limitNow < this.ceiling) {
			this.limitNow++;
			this.okStreak = 0;
			this.drain();
		}
	}

	report(): ConcurrencyReport {
		return { limit: this.limitNow, ceiling: this.ceiling, cuts: this.cuts };
	}
}
