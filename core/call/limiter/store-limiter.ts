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

export type StoreLimiterEvent =
	| { type: 'unavailable'; message: string; fallback: 'local' | 'stop' }
	| { type: 'recovered'; downMs: number };

export class LimitStoreUnavailableError extends Error {
	readonly code = 'limit_store_unavailable';
	constructor(message: string) {
		super(message);
		this.name = 'LimitStoreUnavailableError';
	}
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

/** What happened to the store during a run, for the final hint. */
export interface StoreLimiterReport {
	/** Times the store became unavailable. */
	outages: number;
	/** Milliseconds this process ran on the fallback (or was stopped by it). */
	fallbackMs: number;
	/** Requests admitted by the local fallback. */
	fallbackRequests: number;
	lastError?: string;
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
	private readonly retryStoreMs: number;
	private readonly maxSleepMs: number;
	/**
	 * While the store is unreachable: the in-process limiter of this process alone, its
	 * ceilings at the stated share (so the share rule and learned limits still apply, never above it).
	 */
	private readonly fallback?: FlowLease;
	private downSince: number | undefined;
	private nextProbe = 0;
	private failed: LimitStoreUnavailableError | undefined;
	readonly outage: StoreLimiterReport = { outages: 0, fallbackMs: 0, fallbackRequests: 0 };
	private readonly learned: LearnedLimits = { learnedRpm: 0, learnedTpm: 0 };
	/** This process's recent answers: the cluster rule's counts. */
	private readonly recent: RecentAnswers = { recent429: 0, recentAll: 0, recentAt: 0 };
	/** Right answers not reported to the store yet, and when they were last reported. */
	private unreportedOk = 0;
	private lastOkReport = -Infinity;

	constructor(private readonly options: StoreLimiterOptions) {
		this.store = options.store;
		this.key = options.key;
		this.clock = options.clock;
		this.limits = options.limits;
		this.retryStoreMs = options.retryStoreMs ?? 5000;
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
		return this.downSince !== undefined;
	}

	acquire(tokens: number, signal?: AbortSignal): Promise<void> {
		if (signal?.aborted) return Promise.reject(signal.reason);
		if (this.failed) return Promise.reject(this.failed);
		return new Promise<void>((resolve, reject) => {
			const waiter: Waiter = { tokens, resolve, reject, signal };
			this.queue.push(waiter);
			// An aborted waiter leaves at once, not when it reaches the head.
			signal?.addEventListener(
				'abort',
				() => {
					const i = this.queue.indexOf(waiter);
					if (i >= 0) {
						this.queue.splice(i, 1);
						reject(signal.reason);
					}
				},
				{ once: true },
			);
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
		if (this.downSince !== undefined) {
			const now = this.clock.now();
			this.outage.fallbackMs += now - this.downSince;
			this.downSince = now;
		}
		return this.outage;
	}

	private send(op: (s: LimitStore) => Promise<void>): void {
		if (this.downSince !== undefined || this.failed) return;
		op(this.store).catch((e: unknown) => this.storeFailed(e));
	}

	private storeFailed(e: unknown): void {
		if (this.downSince !== undefined || this.failed) return;
		const message = e instanceof Error ? e.message : String(e);
		const mode = this.options.onUnavailable.mode;
		this.outage.outages++;
		this.outage.lastError = message;
		const now = this.clock.now();
		this.downSince = now;
		this.nextProbe = now + this.retryStoreMs;
		this.options.onEvent?.({ type: 'unavailable', message, fallback: mode });
		if (mode === 'stop') {
			this.failed = new LimitStoreUnavailableError(
				`The shared limit store is unreachable (${message})`,
			);
			for (const w of this.queue.splice(0)) w.reject(this.failed);
		}
	}

	private storeBack(): void {
		if (this.downSince === undefined) return;
		const downMs = this.clock.now() - this.downSince;
		this.outage.fallbackMs += downMs;
		this.downSince = undefined;
		this.options.onEvent?.({ type: 'recovered', downMs });
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
			this.outage.fallbackRequests++;
			head.resolve();
		}
	}

	private async pump(): Promise<void> {
		this.pumping = true;
		try {
			while (this.queue.length > 0 && !this.failed) {
				const head = this.queue[0];
				const now = this.clock.now();
				if (this.downSince !== undefined && now < this.nextProbe && this.fallback) {
					await this.admitLocally(head, this.fallback);
					continue;
				}
				let wait: number;
				try {
					wait = await this.store.take(this.key, this.storeLimits, head.tokens);
				} catch (e) {
					if (this.downSince === undefined) this.storeFailed(e);
					else this.nextProbe = this.clock.now() + this.retryStoreMs;
					continue;
				}
				this.storeBack();
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
