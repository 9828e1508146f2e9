import { onAbort } from '../../abort';
import type { Clock } from '../../types';
import { privateFlow, type FlowLease } from './in-process';
import type { FlowObservation, FlowReport, Limiter } from './limiter';
import {
	countAnswer,
	effectiveCeiling,
	isCluster,
	learnLimits,
	type LearnedLimits,
	type RateLimits,
	type RecentAnswers,
} from './policy';
import type { LimitStore, StoreLimits } from './store';
import { StoreOutage, type StoreLimiterEvent, type StoreLimiterReport } from './store-outage';

export interface StoreLimiterOptions {
	readonly store: LimitStore;
	/** From `limitKey`. */
	readonly key: string;
	readonly limits: RateLimits;
	readonly clock: Clock;
	/**
	 * When the store fails: `local` runs this process on its own in-process limiter at
	 * `share` (0–1] of the limit until the store answers again; `stop` rejects every
	 * waiter (the node stops the run). Never the full rate in each process.
	 */
	readonly onUnavailable: { mode: 'local'; share: number } | { mode: 'stop' };
	/**
	 * While on the local fallback, how often to try the store again.
	 * @default 5000
	 */
	readonly retryStoreMs?: number;
	/**
	 * Longest single sleep before asking the store again, so a waiter notices a budget other
	 * processes left unused (or a store that came back) without a busy loop.
	 * @default 1000
	 */
	readonly maxSleepMs?: number;
	/** Store state changes, for the log and the hint. */
	readonly onEvent?: (e: StoreLimiterEvent) => void;
}

/**
 * Right answers are reported to the store at most this often per process (and with every 429):
 * the store counts them to measure the provider's rate during a 429 episode (≥ 500 ms long,
 * policy.ts), so a report must come well within that; four small round trips a second per
 * process are nothing for Redis.
 */
const OK_REPORT_MS = 250;

interface Waiter {
	tokens: number;
	resolve: () => void;
	reject: (e: unknown) => void;
	signal?: AbortSignal;
}

/**
 * The limiter the runner uses when the limit is shared through a store: one FIFO of this
 * process's waiters; the head asks the store (one atomic round trip) and sleeps for the
 * wait the store names. Processes are not served in a global order, but no process can
 * take more than the buckets hold.
 */
export class StoreLimiter implements Limiter {
	private readonly queue: Waiter[] = [];
	private pumping = false;
	private readonly store: LimitStore;
	private readonly key: string;
	private readonly clock: Clock;
	readonly limits: RateLimits;
	private readonly maxSleepMs: number;
	/**
	 * While the store is unreachable: the in-process limiter of this process alone, its
	 * ceilings at the stated share (so the share rule and learned limits still apply, never above it).
	 */
	private readonly fallback?: FlowLease;
	private readonly outage: StoreOutage;
	private readonly learned: LearnedLimits = { learnedRpm: 0, learnedTpm: 0 };
	/** This process's recent answers: the cluster rule's counts. */
	private readonly recent: RecentAnswers = { recent429: 0, recentAll: 0, recentAt: 0 };
	/** Right answers not reported to the store yet, and when they were last reported. */
	private unreportedOk = 0;
	private lastOkReport = -Infinity;

	constructor(options: StoreLimiterOptions) {
		this.store = options.store;
		this.key = options.key;
		this.clock = options.clock;
		this.limits = options.limits;
		this.outage = new StoreOutage(
			this.clock,
			options.onUnavailable.mode,
			options.retryStoreMs ?? 5000,
			options.onEvent,
		);
		this.maxSleepMs = options.maxSleepMs ?? 1000;
		if (options.onUnavailable.mode === 'local') {
			const share = options.onUnavailable.share;
			if (!(share > 0 && share <= 1))
				throw new TypeError(`Expected \`share\` to be a number in (0, 1], got ${share}`);
			const { rpm, tpm, burstSeconds } = this.limits;
			this.fallback = privateFlow({ rpm: rpm * share, tpm: tpm * share, burstSeconds }, this.clock);
		}
	}

	/** What every store call carries: the configured ceilings and the learned limits. */
	private get storeLimits(): StoreLimits {
		return { ...this.limits, ...this.learned };
	}

	/**
	 * Feeds one answer to the shared state. A cluster of 429s (or one that says the budget is
	 * spent) cuts the share for every process (`'cluster'`); an isolated one is the caller's to
	 * wait out alone (`'isolated'`). Successes let the share grow back.
	 */
	observe(o: FlowObservation): 'cluster' | 'isolated' | undefined {
		const now = this.clock.now();
		countAnswer(this.recent, o.outcome === 'rate_limited', now);
		// The fallback limiter follows the same answers, so it starts adapted when needed.
		this.fallback?.observe(o);
		learnLimits(this.learned, o.rateLimit);
		if (o.outcome === 'rate_limited') {
			const oks = this.takeUnreportedOk(now);
			if (!isCluster(this.recent, o.rateLimit)) {
				this.send((s) => s.rateLimited(this.key, this.storeLimits, oks));
				return 'isolated';
			}
			this.send((s) => s.cut(this.key, this.storeLimits, oks));
			return 'cluster';
		}
		if (o.outcome === 'ok') {
			this.unreportedOk++;
			if (now - this.lastOkReport >= OK_REPORT_MS) {
				const oks = this.takeUnreportedOk(now);
				this.send((s) => s.grow(this.key, this.storeLimits, oks));
			}
		}
		return undefined;
	}

	private takeUnreportedOk(now: number): number {
		const oks = this.unreportedOk;
		this.unreportedOk = 0;
		this.lastOkReport = now;
		return oks;
	}

	/** Across processes `sharedWith` is not counted; `sharedThrough: 'redis'` says where the others run. */
	report(): FlowReport {
		const { share, cuts } = this.store.adaptive(this.key);
		const configured = this.limits.rpm;
		const seen = this.store.ceilings?.(this.key);
		const lowest = Math.min(configured, seen?.ceilingRpm ?? configured);
		const learned = seen?.learnedRpm || this.learned.learnedRpm;
		const out: FlowReport = {
			settledRpm: Math.min(effectiveCeiling(lowest, learned) * share, configured),
			configuredRpm: configured,
			lowestConfiguredRpm: lowest,
			sharedWith: 0,
			sharedThrough: 'redis',
			cuts,
		};
		if (learned > 0 && learned < configured) out.learnedRpm = learned;
		return out;
	}

	/** The run is over (the Redis connection is released by its owner). */
	release(): void {
		this.finish();
		this.fallback?.release();
	}

	/** True while this process runs on the local fallback. */
	get degraded(): boolean {
		return this.outage.down;
	}

	acquire(tokens: number, signal?: AbortSignal): Promise<void> {
		if (signal?.aborted) return Promise.reject(signal.reason);
		if (this.outage.failed) return Promise.reject(this.outage.failed);
		return new Promise<void>((resolve, reject) => {
			// The listener leaves with the waiter, served or failed (../../abort.ts).
			let detach: (() => void) | undefined;
			const waiter: Waiter = {
				tokens,
				resolve: () => {
					detach?.();
					resolve();
				},
				reject: (e) => {
					detach?.();
					reject(e);
				},
				signal,
			};
			this.queue.push(waiter);
			// An aborted waiter leaves at once, not when it reaches the head.
			if (signal)
				detach = onAbort(signal, () => {
					const i = this.queue.indexOf(waiter);
					if (i >= 0) {
						this.queue.splice(i, 1);
						reject(signal.reason);
					}
				});
			if (!this.pumping) void this.pump();
		});
	}

	correct(estimatedTokens: number, actualTokens: number): void {
		this.fallback?.correct(estimatedTokens, actualTokens);
		this.send((s) => s.adjust(this.key, this.storeLimits, estimatedTokens - actualTokens));
	}

	get waiting(): number {
		return this.queue.length;
	}

	/** Closes the books at the end of a run: time still on the fallback counts. */
	finish(): StoreLimiterReport {
		return this.outage.finish();
	}

	private send(op: (s: LimitStore) => Promise<void>): void {
		if (this.outage.down || this.outage.failed) return;
		op(this.store).catch((e: unknown) => this.storeFailed(e));
	}

	private storeFailed(e: unknown, probe = false): void {
		if (probe) this.outage.probeFailed(e);
		else this.outage.storeFailed(e);
		const failed = this.outage.failed;
		if (failed) for (const w of this.queue.splice(0)) w.reject(failed);
	}

	/** On the fallback: this process alone, at its stated share of the limit. */
	private async admitLocally(head: Waiter, fallback: FlowLease): Promise<void> {
		try {
			await fallback.acquire(head.tokens, head.signal);
		} catch {
			return; // aborted: the abort listener already rejected it
		}
		if (this.queue[0] === head) {
			this.queue.shift();
			this.outage.report.fallbackRequests++;
			head.resolve();
		}
	}

	private async pump(): Promise<void> {
		this.pumping = true;
		try {
			while (this.queue.length > 0 && !this.outage.failed) {
				const head = this.queue[0];
				if (this.outage.waitingToProbe && this.fallback) {
					await this.admitLocally(head, this.fallback);
					continue;
				}
				let wait: number;
				try {
					wait = await this.store.take(this.key, this.storeLimits, head.tokens);
				} catch (e) {
					this.storeFailed(e, true);
					continue;
				}
				this.outage.storeBack();
				if (this.queue[0] !== head) {
					// The head was aborted during the round trip: what it took is given back.
					if (wait <= 0) this.send((s) => s.adjust(this.key, this.storeLimits, head.tokens));
					continue;
				}
				if (wait <= 0) {
					this.queue.shift();
					head.resolve();
					continue;
				}
				try {
					await this.clock.sleep(Math.min(wait, this.maxSleepMs), head.signal);
				} catch {
					// aborted while sleeping: the abort listener rejected it
				}
			}
		} finally {
			this.pumping = false;
		}
	}
}
