import { createHash } from 'node:crypto';

import type { Clock } from '../types';
import {
	CLUSTER_MIN,
	CLUSTER_SHARE,
	DECAY_MS,
	privateFlow,
	type FlowLease,
	type FlowReport,
} from './controller';
import { initialShare, onCluster, onOk, onRateLimited, type ShareState } from './aimd';
import { TokenBucket, type RateLimits } from './fallback-limiter';

export type { RateLimits } from './fallback-limiter';

/**
 * A caller's limits as the store sees them: the configured RPM / TPM (ceilings, as in the
 * in-process controller) and the limits this caller last read from the provider's
 * rate-limit headers (shared through the store like everything else).
 */
export interface StoreLimits extends RateLimits {
	readonly learnedRpm?: number;
	readonly learnedTpm?: number;
}

/**
 * A caller's configured limits hold the others down for this long after its last call to the
 * store: the lowest of the runs using a key now is the ceiling (a lease that needs no release).
 */
export const CEILING_MS = 15_000;

/**
 * What the runner needs from a limiter: the engine's in-process limiter, or a
 * {@link StoreLimiter} sharing the budget through a store (Redis).
 */
export interface Limiter {
	/** Resolves when one request of `tokens` estimated tokens may be sent. */
	acquire(tokens: number, signal?: AbortSignal): Promise<void>;
	/** The provider said 429: nobody sends before `ms` from now, and the request bucket starts empty. */
	penalize(ms: number | undefined): void;
	pause(ms: number): void;
	/** Replace the estimate by the usage the provider reported. */
	correct(estimatedTokens: number, actualTokens: number): void;
}

/**
 * Where the request + token budgets, the 429 pause and the shared state of one limit key
 * live. The in-process store and the Redis store (core/call/redis-store.ts) implement the
 * same four atomic operations, so the policy ({@link StoreLimiter}) is the same code for one
 * process, several executions and several queue-mode workers.
 */
export interface LimitStore {
	/**
	 * Atomically: refill both buckets; if no pause is running and both hold enough, take one
	 * request and `tokens` tokens. Returns 0 when taken, else the milliseconds to wait.
	 */
	take(key: string, limits: StoreLimits, tokens: number): Promise<number>;
	/** Gives `tokens` back (negative takes more): the estimate corrected by the real usage. */
	adjust(key: string, limits: StoreLimits, tokens: number): Promise<void>;
	/** A 429: the request bucket starts empty and nobody sends before `pauseMs` from now. */
	penalize(key: string, limits: StoreLimits, pauseMs: number): Promise<void>;
	/** Nobody sends before `pauseMs` from now (an open circuit). */
	pause(key: string, limits: StoreLimits, pauseMs: number): Promise<void>;
	/**
	 * The shared adaptive state (the rule in aimd.ts, the same as the in-process controller's).
	 * `oks` in each call: right answers the caller has not reported yet, so the store counts
	 * every process's answers (the rate they come at during a 429 episode sets the threshold).
	 *
	 * A cluster of 429s: an episode may begin, then the share is cut (at most once a second,
	 * whichever process reports it) and the request bucket empties.
	 */
	cut(key: string, limits: StoreLimits, oks: number): Promise<void>;
	/** A 429 that is not a cluster: an episode of 429s may begin. */
	rateLimited(key: string, limits: StoreLimits, oks: number): Promise<void>;
	/** Right answers: counted, and the share grows back one step when the rule allows. */
	grow(key: string, limits: StoreLimits, oks: number): Promise<void>;
	/** The share and cut count as of this process's last call for `key` (no round trip). */
	adaptive(key: string): { share: number; cuts: number };
	/**
	 * The lowest RPM configured by the callers of `key` now and the RPM the provider announced
	 * (0 = none), as of this process's last call (no round trip).
	 */
	ceilings?(key: string): { ceilingRpm: number; learnedRpm: number } | undefined;
}

/**
 * The key a limit is shared under: a hash of provider + base URL + API key + model, so
 * two processes using the same account and model meet, and the key itself is never stored.
 */
export function limitKey(identity: {
	provider: string;
	baseUrl: string;
	apiKey: string;
	model: string;
}): string {
	return createHash('sha256')
		.update([identity.provider, identity.baseUrl, identity.apiKey, identity.model].join('\u0000'))
		.digest('hex');
}

export function bucketCapacity(perMinute: number, burstSeconds: number): number {
	return Math.max(1, (perMinute / 60) * burstSeconds);
}

/** The same buckets as the Redis script, in this process's memory (tests, reference). */
export class MemoryLimitStore implements LimitStore {
	private readonly state = new Map<
		string,
		{
			requests: TokenBucket;
			tokens: TokenBucket;
			pausedUntil: number;
			share: ShareState;
			cuts: number;
			ceilingRpm: number;
			ceilingRpmAt: number;
			ceilingTpm: number;
			ceilingTpmAt: number;
			learnedRpm: number;
			learnedTpm: number;
		}
	>();

	constructor(private readonly clock: Clock) {}

	private entry(key: string, limits: StoreLimits) {
		const now = this.clock.now();
		const burst = limits.burstSeconds ?? 0.5;
		let e = this.state.get(key);
		if (!e) {
			e = {
				requests: new TokenBucket(limits.rpm / 60_000, bucketCapacity(limits.rpm, burst), now),
				tokens: new TokenBucket(limits.tpm / 60_000, bucketCapacity(limits.tpm, burst), now),
				pausedUntil: 0,
				share: initialShare(now),
				cuts: 0,
				ceilingRpm: limits.rpm,
				ceilingRpmAt: now,
				ceilingTpm: limits.tpm,
				ceilingTpmAt: now,
				learnedRpm: 0,
				learnedTpm: 0,
			};
			this.state.set(key, e);
		}
		// The lowest limits configured by the callers of the last CEILING_MS; the lowest refreshes them.
		if (limits.rpm <= e.ceilingRpm || now - e.ceilingRpmAt > CEILING_MS) {
			e.ceilingRpm = limits.rpm;
			e.ceilingRpmAt = now;
		}
		if (limits.tpm <= e.ceilingTpm || now - e.ceilingTpmAt > CEILING_MS) {
			e.ceilingTpm = limits.tpm;
			e.ceilingTpmAt = now;
		}
		if ((limits.learnedRpm ?? 0) > 0) e.learnedRpm = limits.learnedRpm!;
		if ((limits.learnedTpm ?? 0) > 0) e.learnedTpm = limits.learnedTpm!;
		this.rate(e, limits, now);
		return { e, now };
	}

	private rate(
		e: {
			requests: TokenBucket;
			tokens: TokenBucket;
			share: ShareState;
			ceilingRpm: number;
			ceilingTpm: number;
			learnedRpm: number;
			learnedTpm: number;
		},
		limits: StoreLimits,
		now: number,
	): void {
		const burst = limits.burstSeconds ?? 0.5;
		const rpmCeil = e.learnedRpm > 0 ? Math.min(e.ceilingRpm, e.learnedRpm) : e.ceilingRpm;
		const tpmCeil = e.learnedTpm > 0 ? Math.min(e.ceilingTpm, e.learnedTpm) : e.ceilingTpm;
		const rpm = rpmCeil * e.share.share;
		const tpm = tpmCeil * e.share.share;
		// Refilled at the old rate up to now, then the new rate applies.
		e.requests.waitFor(0, now);
		e.tokens.waitFor(0, now);
		e.requests.setRate(rpm / 60_000, bucketCapacity(rpm, burst));
		e.tokens.setRate(tpm / 60_000, bucketCapacity(tpm, burst));
	}

	async take(key: string, limits: StoreLimits, tokens: number): Promise<number> {
		const { e, now } = this.entry(key, limits);
		const wait = Math.max(
			e.pausedUntil - now,
			e.requests.waitFor(1, now),
			e.tokens.waitFor(tokens, now),
		);
		if (wait > 0) return wait;
		e.requests.take(1, now);
		e.tokens.take(tokens, now);
		return 0;
	}

	async adjust(key: string, limits: StoreLimits, tokens: number): Promise<void> {
		const { e, now } = this.entry(key, limits);
		e.tokens.adjust(tokens, now);
	}

	async penalize(key: string, limits: StoreLimits, pauseMs: number): Promise<void> {
		const { e, now } = this.entry(key, limits);
		e.requests.drain(now);
		if (pauseMs > 0) e.pausedUntil = Math.max(e.pausedUntil, now + pauseMs);
	}

	async pause(key: string, limits: StoreLimits, pauseMs: number): Promise<void> {
		const { e, now } = this.entry(key, limits);
		e.pausedUntil = Math.max(e.pausedUntil, now + pauseMs);
	}

	async cut(key: string, limits: StoreLimits, oks: number): Promise<void> {
		const { e, now } = this.entry(key, limits);
		e.requests.drain(now);
		e.share.okTotal += oks;
		onRateLimited(e.share, now);
		const rpmCeil = e.learnedRpm > 0 ? Math.min(e.ceilingRpm, e.learnedRpm) : e.ceilingRpm;
		if (!onCluster(e.share, now, rpmCeil)) return;
		e.cuts++;
		this.rate(e, limits, now);
	}

	async rateLimited(key: string, limits: StoreLimits, oks: number): Promise<void> {
		const { e, now } = this.entry(key, limits);
		e.share.okTotal += oks;
		onRateLimited(e.share, now);
	}

	async grow(key: string, limits: StoreLimits, oks: number): Promise<void> {
		const { e, now } = this.entry(key, limits);
		const before = e.share.share;
		onOk(e.share, now, oks);
		if (e.share.share !== before) this.rate(e, limits, now);
	}

	adaptive(key: string): { share: number; cuts: number } {
		const e = this.state.get(key);
		return { share: e?.share.share ?? 1, cuts: e?.cuts ?? 0 };
	}

	ceilings(key: string): { ceilingRpm: number; learnedRpm: number } | undefined {
		const e = this.state.get(key);
		return e && { ceilingRpm: e.ceilingRpm, learnedRpm: e.learnedRpm };
	}
}

export interface StoreLimiterOptions {
	readonly store: LimitStore;
	/** From {@link limitKey}. */
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

/** How one request went (the shape the adaptive flow controller observes). */
export interface LimitObservation {
	outcome: 'ok' | 'rate_limited' | 'other';
	rateLimit?: {
		limitRequests?: number;
		remainingRequests?: number;
		limitTokens?: number;
		remainingTokens?: number;
	};
}

/** What the progress line and the hint say about the rate: the controller's FlowReport. Across
 * processes `sharedWith` is not counted; `sharedThrough: 'redis'` says where the others run. */
export type LimitReport = FlowReport;

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
 * aimd.ts), so a report must come well within that; four small round trips a second per
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
	/**
	 * While the store is unreachable: the in-process flow controller of this process alone, its
	 * ceilings at the stated share (so AIMD and learned limits still apply, never above it).
	 */
	private readonly fallback?: FlowLease;
	private downSince: number | undefined;
	private nextProbe = 0;
	private failed: LimitStoreUnavailableError | undefined;
	private readonly retryStoreMs: number;
	private readonly maxSleepMs: number;
	readonly outage: StoreLimiterReport = { outages: 0, fallbackMs: 0, fallbackRequests: 0 };

	constructor(private readonly o: StoreLimiterOptions) {
		if (o.onUnavailable.mode === 'local') {
			const share = o.onUnavailable.share;
			if (!(share > 0 && share <= 1))
				throw new TypeError(`Expected \`share\` to be a number in (0, 1], got ${share}`);
			this.fallback = privateFlow(
				{
					rpm: o.limits.rpm * share,
					tpm: o.limits.tpm * share,
					burstSeconds: o.limits.burstSeconds,
				},
				o.clock,
			);
		}
		this.retryStoreMs = o.retryStoreMs ?? 5000;
		this.maxSleepMs = o.maxSleepMs ?? 1000;
	}

	get current(): RateLimits {
		return this.o.limits;
	}

	get limits(): RateLimits {
		return this.o.limits;
	}

	/** Limits announced by the provider's rate-limit headers (0 = none read yet). */
	private learnedRpm = 0;
	private learnedTpm = 0;

	/** What every store call carries: the configured ceilings and the learned limits. */
	private get storeLimits(): StoreLimits {
		return { ...this.o.limits, learnedRpm: this.learnedRpm, learnedTpm: this.learnedTpm };
	}

	private recent429 = 0;
	private recentAll = 0;
	private recentAt = 0;
	/** Right answers not reported to the store yet, and when they were last reported. */
	private unreportedOk = 0;
	private lastOkReport = -Infinity;

	/**
	 * Feeds one answer to the shared adaptive state. A cluster of 429s (or one that says the
	 * budget is spent) cuts the share for every process (`'cluster'`); an isolated one is the
	 * caller's to wait out alone (`'isolated'`). Successes let the share grow back.
	 */
	observe(o: LimitObservation): 'cluster' | 'isolated' | undefined {
		const now = this.o.clock.now();
		const decay = Math.exp(-Math.max(0, now - this.recentAt) / DECAY_MS);
		this.recent429 = this.recent429 * decay + (o.outcome === 'rate_limited' ? 1 : 0);
		this.recentAll = this.recentAll * decay + 1;
		this.recentAt = now;
		// The fallback controller follows the same answers, so it starts adapted when needed.
		this.fallback?.observe(o);
		const rl = o.rateLimit;
		if (rl?.limitRequests !== undefined && rl.limitRequests > 0) this.learnedRpm = rl.limitRequests;
		if (rl?.limitTokens !== undefined && rl.limitTokens > 0) this.learnedTpm = rl.limitTokens;
		if (o.outcome === 'rate_limited') {
			const spent =
				rl !== undefined &&
				((rl.remainingRequests !== undefined && rl.remainingRequests < 1) ||
					(rl.remainingTokens !== undefined && rl.remainingTokens < 1));
			const budgetLeft =
				rl !== undefined &&
				!spent &&
				(rl.remainingRequests !== undefined || rl.remainingTokens !== undefined);
			const cluster =
				spent ||
				(!budgetLeft &&
					this.recent429 >= CLUSTER_MIN &&
					this.recent429 / this.recentAll >= CLUSTER_SHARE);
			const oks = this.takeUnreportedOk(now);
			if (!cluster) {
				this.send((s) => s.rateLimited(this.o.key, this.storeLimits, oks));
				return 'isolated';
			}
			this.send((s) => s.cut(this.o.key, this.storeLimits, oks));
			return 'cluster';
		}
		if (o.outcome === 'ok') {
			this.unreportedOk++;
			if (now - this.lastOkReport >= OK_REPORT_MS) {
				const oks = this.takeUnreportedOk(now);
				this.send((s) => s.grow(this.o.key, this.storeLimits, oks));
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

	report(): LimitReport {
		const { share, cuts } = this.o.store.adaptive(this.o.key);
		const configured = this.o.limits.rpm;
		const seen = this.o.store.ceilings?.(this.o.key);
		const lowest = Math.min(configured, seen?.ceilingRpm ?? configured);
		const learned = seen?.learnedRpm || this.learnedRpm;
		const ceiling = learned > 0 ? Math.min(lowest, learned) : lowest;
		const out: LimitReport = {
			settledRpm: Math.min(ceiling * share, configured),
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

	/**
	 * Store-wide pauses (the runner does not use them: an isolated 429's Retry-After
	 * is waited out, capped, by its own item; a cluster goes through `observe`). Not applied to
	 * the local fallback.
	 */
	penalize(ms: number | undefined): void {
		this.send((s) => s.penalize(this.o.key, this.storeLimits, ms ?? 0));
	}

	pause(ms: number): void {
		this.send((s) => s.pause(this.o.key, this.storeLimits, ms));
	}

	correct(estimatedTokens: number, actualTokens: number): void {
		this.fallback?.correct(estimatedTokens, actualTokens);
		this.send((s) => s.adjust(this.o.key, this.storeLimits, estimatedTokens - actualTokens));
	}

	get waiting(): number {
		return this.queue.length;
	}

	/** Closes the books at the end of a run: time still on the fallback counts. */
	finish(): StoreLimiterReport {
		if (this.downSince !== undefined) {
			const now = this.o.clock.now();
			this.outage.fallbackMs += now - this.downSince;
			this.downSince = now;
		}
		return this.outage;
	}

	private send(op: (s: LimitStore) => Promise<void>): void {
		if (this.downSince !== undefined || this.failed) return;
		op(this.o.store).catch((e: unknown) => this.storeFailed(e));
	}

	private storeFailed(e: unknown): void {
		if (this.downSince !== undefined || this.failed) return;
		const message = e instanceof Error ? e.message : String(e);
		this.outage.outages++;
		this.outage.lastError = message;
		const now = this.o.clock.now();
		this.downSince = now;
		this.nextProbe = now + this.retryStoreMs;
		this.o.onEvent?.({ type: 'unavailable', message, fallback: this.o.onUnavailable.mode });
		if (this.o.onUnavailable.mode === 'stop') {
			this.failed = new LimitStoreUnavailableError(
				`The shared limit store is unreachable (${message})`,
			);
			for (const w of this.queue.splice(0)) w.reject(this.failed);
		}
	}

	private storeBack(): void {
		if (this.downSince === undefined) return;
		const downMs = this.o.clock.now() - this.downSince;
		this.outage.fallbackMs += downMs;
		this.downSince = undefined;
		this.o.onEvent?.({ type: 'recovered', downMs });
	}

	private async pump(): Promise<void> {
		this.pumping = true;
		try {
			while (this.queue.length > 0 && !this.failed) {
				const head = this.queue[0];
				const now = this.o.clock.now();
				if (this.downSince !== undefined && now < this.nextProbe && this.fallback) {
					// On the fallback: this process alone, at its stated share of the limit.
					try {
						await this.fallback.acquire(head.tokens, head.signal);
					} catch {
						continue; // aborted: the abort listener already rejected it
					}
					if (this.queue[0] === head) {
						this.queue.shift();
						this.outage.fallbackRequests++;
						head.resolve();
					}
					continue;
				}
				let wait: number;
				try {
					wait = await this.o.store.take(this.o.key, this.storeLimits, head.tokens);
				} catch (e) {
					if (this.downSince === undefined) this.storeFailed(e);
					else this.nextProbe = this.o.clock.now() + this.retryStoreMs;
					continue;
				}
				this.storeBack();
				if (this.queue[0] !== head) {
					// The head was aborted during the round trip: what it took is given back.
					if (wait <= 0) this.send((s) => s.adjust(this.o.key, this.storeLimits, head.tokens));
					continue;
				}
				if (wait <= 0) {
					this.queue.shift();
					head.resolve();
					continue;
				}
				try {
					await this.o.clock.sleep(Math.min(wait, this.maxSleepMs), head.signal);
				} catch {
					// aborted while sleeping: the abort listener rejected it
				}
			}
		} finally {
			this.pumping = false;
		}
	}
}
