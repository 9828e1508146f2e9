import { createHash } from 'node:crypto';

import { initialShare, onCluster, onOk, onRateLimited, type ShareState } from './aimd';
import type { RateLimitInfo } from './rate-headers';
import type { Clock } from '../types';

/**
 * Adaptive flow control for one credential + endpoint + model. The configured RPM /
 * TPM are ceilings, not targets: the controller admits `share` of the effective ceiling, where
 * the effective ceiling is the lowest of the limits every live run configured for this key and
 * the limit the provider's rate-limit headers announce.
 *
 * - AIMD on 429s: a cluster of 429s (or one that says the budget is spent) cuts `share`; right
 *   answers let it grow back — the rule in aimd.ts, shared with the stores that hold the share
 *   outside this process (limit-store.ts, redis-store.ts).
 * - An isolated 429 (the headers say budget is left, or 429s are a small share of the recent
 *   answers) is the caller's to wait out alone: nobody else slows down.
 * - Requests and tokens are continuously refilled buckets behind one FIFO queue.
 */

/**
 * Everything one key shares between executions, numbers only (Infinity = no limit, 0 = not
 * learned), so a store outside the process can hold it as a flat hash.
 */
export interface FlowState extends ShareState {
	/** Lowest RPM / TPM configured by the runs now using this key. */
	ceilingRpm: number;
	ceilingTpm: number;
	/** Limits announced by the provider's rate-limit headers (0 = none seen). */
	learnedRpm: number;
	learnedTpm: number;
	/** Request and token bucket levels and the instant they were last refilled. */
	reqLevel: number;
	reqAt: number;
	tokLevel: number;
	tokAt: number;
	/** Exponentially decayed counts (time constant DECAY_MS) of 429s and of all answers. */
	recent429: number;
	recentAll: number;
	recentAt: number;
	/** Nobody is admitted before this instant (a spent budget's reset). */
	pausedUntil: number;
	lastUsedAt: number;
}

/**
 * Where the controller keeps its `FlowState`. The in-process store below is a Map; the Redis
 * store (limit-store.ts) lets several n8n workers share one key's budget. Contract: `get` returns
 * the last state `set` for the key (or undefined); the controller reads, changes and writes
 * back a whole state synchronously on every admission and answer, so a remote store keeps a
 * local copy and reconciles it in the background (e.g. every 100 ms, taking the lower
 * `share` / bucket levels and the later `pausedUntil`). `delete` evicts an idle key.
 */
export interface FlowStore {
	get(key: string): FlowState | undefined;
	set(key: string, state: FlowState): void;
	delete(key: string): void;
}

export class MemoryFlowStore implements FlowStore {
	private readonly map = new Map<string, FlowState>();
	get(key: string): FlowState | undefined {
		return this.map.get(key);
	}
	set(key: string, state: FlowState): void {
		this.map.set(key, state);
	}
	delete(key: string): void {
		this.map.delete(key);
	}
	get size(): number {
		return this.map.size;
	}
}

export interface FlowLimits {
	/** Requests per minute; Infinity for none. */
	readonly rpm: number;
	/** Tokens per minute (input estimate + max output, as OpenAI counts); Infinity for none. */
	readonly tpm: number;
	/**
	 * Seconds of traffic the buckets may release at once: half of the one second providers
	 * allow, the other half absorbs network jitter and estimate error. @default 0.5
	 */
	readonly burstSeconds?: number;
}

function validateLimits(l: FlowLimits): void {
	if (!(l.rpm > 0)) throw new TypeError(`Expected \`rpm\` to be a number > 0, got ${l.rpm}`);
	if (!(l.tpm > 0)) throw new TypeError(`Expected \`tpm\` to be a number > 0, got ${l.tpm}`);
	if (l.burstSeconds !== undefined && !(l.burstSeconds > 0))
		throw new TypeError(`Expected \`burstSeconds\` to be > 0, got ${l.burstSeconds}`);
}

/** How a run's request went, for the controller. */
export interface FlowObservation {
	outcome: 'ok' | 'rate_limited' | 'other';
	rateLimit?: RateLimitInfo;
}

/** What the progress line and the hint say about the rate. */
export interface FlowReport {
	/** Requests per minute admitted now. */
	settledRpm: number;
	/** This run's configured RPM. */
	configuredRpm: number;
	/** Lowest RPM configured by the runs sharing this key (= configuredRpm when alone or lowest). */
	lowestConfiguredRpm: number;
	/** Other runs sharing this key's budget now (counted in one process; 0 = not counted). */
	sharedWith: number;
	/**
	 * Where the budget is shared: `process` — executions in this n8n process; `redis` — every
	 * execution on any worker or n8n process that shares the limits through the same Redis.
	 * @default 'process'
	 */
	sharedThrough?: 'process' | 'redis';
	/** RPM the provider's headers announced, when lower than the configured one. */
	learnedRpm?: number;
	/** Times the rate was cut for 429s. */
	cuts: number;
}

/** How 429s are judged a cluster; shared with the Redis-backed limiter (limit-store.ts). */
export const DECAY_MS = 2_000;
/** A 429 is part of a cluster when 429s are at least this share of the recent answers... */
export const CLUSTER_SHARE = 0.1;
/** ...and at least this many (decayed) 429s were seen. */
export const CLUSTER_MIN = 3;

interface Waiter {
	tokens: number;
	resolve: () => void;
	reject: (e: unknown) => void;
	signal?: AbortSignal;
	onAbort?: () => void;
	gone: boolean;
}

/**
 * The controller of one key in this process: the queue and pump are local, the numbers live
 * in the `FlowStore`. Runs use it through a `FlowLease` (their own ceiling, released at the end).
 */
export class FlowController {
	private readonly queue: Waiter[] = [];
	private live = 0;
	private pumping = false;
	private readonly leases = new Map<number, FlowLimits>();
	private nextLease = 1;
	private burstSeconds = 0.5;
	private cuts = 0;

	constructor(
		private readonly key: string,
		private readonly store: FlowStore,
		private readonly clock: Clock,
	) {}

	/** Registers a run's configured limits; the lowest of the live leases is the ceiling. */
	lease(limits: FlowLimits): FlowLease {
		validateLimits(limits);
		const id = this.nextLease++;
		this.leases.set(id, limits);
		this.recomputeCeiling();
		return new FlowLease(this, id, limits);
	}

	/** @internal */
	releaseLease(id: number): void {
		if (this.leases.delete(id) && this.leases.size > 0) this.recomputeCeiling();
		const s = this.state();
		s.lastUsedAt = this.clock.now();
		this.store.set(this.key, s);
	}

	get leaseCount(): number {
		return this.leases.size;
	}

	get idle(): boolean {
		return this.leases.size === 0 && this.live === 0;
	}

	get lastUsedAt(): number {
		return this.state().lastUsedAt;
	}

	private recomputeCeiling(): void {
		const s = this.state();
		let rpm = Infinity;
		let tpm = Infinity;
		let burst = Infinity;
		for (const l of this.leases.values()) {
			rpm = Math.min(rpm, l.rpm);
			tpm = Math.min(tpm, l.tpm);
			burst = Math.min(burst, l.burstSeconds ?? 0.5);
		}
		s.ceilingRpm = rpm;
		s.ceilingTpm = tpm;
		this.burstSeconds = Number.isFinite(burst) ? burst : 0.5;
		this.store.set(this.key, s);
	}

	private state(): FlowState {
		let s = this.store.get(this.key);
		if (!s) {
			const now = this.clock.now();
			s = {
				ceilingRpm: Infinity,
				ceilingTpm: Infinity,
				learnedRpm: 0,
				learnedTpm: 0,
				...initialShare(now),
				reqLevel: NaN, // NaN = full (the capacity is known only once a ceiling is)
				reqAt: now,
				tokLevel: NaN,
				tokAt: now,
				recent429: 0,
				recentAll: 0,
				recentAt: now,
				pausedUntil: 0,
				lastUsedAt: now,
			};
			this.store.set(this.key, s);
		}
		return s;
	}

	/** The effective RPM ceiling (configured or learned, whichever is lower) at share 1. */
	private ceilingRpm(s: FlowState): number {
		return s.learnedRpm > 0 ? Math.min(s.ceilingRpm, s.learnedRpm) : s.ceilingRpm;
	}

	/** Effective per-minute rates admitted now. */
	private rates(s: FlowState): { rpm: number; tpm: number } {
		const rpmCeil = s.learnedRpm > 0 ? Math.min(s.ceilingRpm, s.learnedRpm) : s.ceilingRpm;
		const tpmCeil = s.learnedTpm > 0 ? Math.min(s.ceilingTpm, s.learnedTpm) : s.ceilingTpm;
		return { rpm: rpmCeil * s.share, tpm: tpmCeil * s.share };
	}

	private capacity(perMinute: number): number {
		return Math.max(1, (perMinute / 60) * this.burstSeconds);
	}

	/** Refills both buckets to `now` at the current rates. */
	private refill(s: FlowState, now: number): { rpm: number; tpm: number } {
		const r = this.rates(s);
		if (Number.isNaN(s.reqLevel)) s.reqLevel = this.capacity(r.rpm);
		if (Number.isNaN(s.tokLevel)) s.tokLevel = this.capacity(r.tpm);
		// Clamped every time: a lower limit (learned, cut or another run's) takes effect at once.
		if (Number.isFinite(r.rpm))
			s.reqLevel = Math.min(
				this.capacity(r.rpm),
				s.reqLevel + (Math.max(0, now - s.reqAt) * r.rpm) / 60_000,
			);
		if (Number.isFinite(r.tpm))
			s.tokLevel = Math.min(
				this.capacity(r.tpm),
				s.tokLevel + (Math.max(0, now - s.tokAt) * r.tpm) / 60_000,
			);
		s.reqAt = Math.max(s.reqAt, now);
		s.tokAt = Math.max(s.tokAt, now);
		return r;
	}

	/** Milliseconds until one request of `tokens` may go (0 = now). */
	private waitFor(s: FlowState, tokens: number, now: number): number {
		const r = this.refill(s, now);
		let wait = Math.max(0, s.pausedUntil - now);
		if (Number.isFinite(r.rpm) && s.reqLevel < 1)
			wait = Math.max(wait, Math.ceil(((1 - s.reqLevel) * 60_000) / r.rpm));
		if (Number.isFinite(r.tpm)) {
			const need = Math.min(tokens, this.capacity(r.tpm));
			if (s.tokLevel < need)
				wait = Math.max(wait, Math.ceil(((need - s.tokLevel) * 60_000) / r.tpm));
		}
		return wait;
	}

	/** Resolves when one request of `tokens` estimated tokens may be sent. */
	acquire(tokens: number, signal?: AbortSignal): Promise<void> {
		if (signal?.aborted) return Promise.reject(signal.reason);
		return new Promise<void>((resolve, reject) => {
			const w: Waiter = { tokens, resolve, reject, signal, gone: false };
			if (signal) {
				// An aborted waiter leaves at once, not when it reaches the head of the queue.
				w.onAbort = () => {
					if (w.gone) return;
					w.gone = true;
					this.live--;
					reject(signal.reason);
				};
				signal.addEventListener('abort', w.onAbort, { once: true });
			}
			this.queue.push(w);
			this.live++;
			if (!this.pumping) void this.pump();
		});
	}

	/** Waiters still queued (aborted ones are gone at once). */
	get waiting(): number {
		return this.live;
	}

	/** Replace the estimate by the usage the provider reported. */
	correct(estimatedTokens: number, actualTokens: number): void {
		const s = this.state();
		const r = this.refill(s, this.clock.now());
		if (Number.isFinite(r.tpm))
			s.tokLevel = Math.min(this.capacity(r.tpm), s.tokLevel + estimatedTokens - actualTokens);
		this.store.set(this.key, s);
	}

	/**
	 * Feeds one answer to the controller. Returns `'cluster'` when a 429 slowed everyone down,
	 * `'isolated'` when only its own request must wait.
	 */
	observe(o: FlowObservation): 'cluster' | 'isolated' | undefined {
		const s = this.state();
		const now = this.clock.now();
		this.refill(s, now);
		const decay = Math.exp(-Math.max(0, now - s.recentAt) / DECAY_MS);
		s.recent429 = s.recent429 * decay + (o.outcome === 'rate_limited' ? 1 : 0);
		s.recentAll = s.recentAll * decay + 1;
		s.recentAt = now;
		s.lastUsedAt = now;
		const rl = o.rateLimit;
		if (rl?.limitRequests !== undefined && rl.limitRequests > 0) s.learnedRpm = rl.limitRequests;
		if (rl?.limitTokens !== undefined && rl.limitTokens > 0) s.learnedTpm = rl.limitTokens;
		let verdict: 'cluster' | 'isolated' | undefined;
		if (o.outcome === 'rate_limited') {
			onRateLimited(s, now);
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
				(!budgetLeft && s.recent429 >= CLUSTER_MIN && s.recent429 / s.recentAll >= CLUSTER_SHARE);
			verdict = cluster ? 'cluster' : 'isolated';
			if (cluster) {
				// Nobody sends until the next request fits at the (lower) rate.
				s.reqLevel = Math.min(s.reqLevel, 0);
				if (onCluster(s, now, this.ceilingRpm(s))) this.cuts++;
			}
		} else if (o.outcome === 'ok') onOk(s, now);
		this.store.set(this.key, s);
		return verdict;
	}

	report(configured: FlowLimits): FlowReport {
		const s = this.state();
		const r = this.rates(s);
		const out: FlowReport = {
			settledRpm: Math.min(r.rpm, configured.rpm),
			configuredRpm: configured.rpm,
			lowestConfiguredRpm: s.ceilingRpm,
			sharedWith: Math.max(0, this.leases.size - 1),
			cuts: this.cuts,
		};
		if (s.learnedRpm > 0 && s.learnedRpm < configured.rpm) out.learnedRpm = s.learnedRpm;
		return out;
	}

	private async pump(): Promise<void> {
		this.pumping = true;
		try {
			while (this.queue.length > 0) {
				const head = this.queue[0];
				if (head.gone) {
					this.queue.shift();
					continue;
				}
				const now = this.clock.now();
				const s = this.state();
				const wait = this.waitFor(s, head.tokens, now);
				if (wait <= 0) {
					this.queue.shift();
					s.reqLevel -= 1;
					if (Number.isFinite(this.rates(s).tpm)) s.tokLevel -= head.tokens;
					s.lastUsedAt = now;
					this.store.set(this.key, s);
					head.gone = true;
					this.live--;
					if (head.onAbort) head.signal?.removeEventListener('abort', head.onAbort);
					head.resolve();
					continue;
				}
				this.store.set(this.key, s);
				const wake = new AbortController();
				const onGone = () => wake.abort();
				head.signal?.addEventListener('abort', onGone, { once: true });
				try {
					// Short naps: a cut or a learned limit may change the wait meanwhile.
					await this.clock.sleep(Math.min(wait, 1_000), wake.signal);
				} catch {
					// the head left while we slept; the loop moves on
				} finally {
					head.signal?.removeEventListener('abort', onGone);
				}
			}
		} finally {
			this.pumping = false;
		}
	}
}

/** One run's use of a controller: its own configured limits, released when the run ends. */
export class FlowLease {
	private released = false;
	constructor(
		readonly controller: FlowController,
		private readonly id: number,
		readonly limits: FlowLimits,
	) {}

	acquire(tokens: number, signal?: AbortSignal): Promise<void> {
		return this.controller.acquire(tokens, signal);
	}
	correct(estimatedTokens: number, actualTokens: number): void {
		this.controller.correct(estimatedTokens, actualTokens);
	}
	observe(o: FlowObservation): 'cluster' | 'isolated' | undefined {
		return this.controller.observe(o);
	}
	report(): FlowReport {
		return this.controller.report(this.limits);
	}
	release(): void {
		if (this.released) return;
		this.released = true;
		this.controller.releaseLease(this.id);
	}
}

/** A controller of its own (tests, benches, one-off runs): not shared with anyone. */
export function privateFlow(limits: FlowLimits, clock: Clock): FlowLease {
	return new FlowController('private', new MemoryFlowStore(), clock).lease(limits);
}

const IDLE_EVICT_MS = 10 * 60_000;
let sharedStore: FlowStore = new MemoryFlowStore();
const shared = new Map<string, FlowController>();

/**
 * One controller per credential + endpoint + model in this process, so two executions (or
 * two nodes) using the same key share the budget, at the lowest limit any of them set. The
 * key is hashed: the API key itself is never kept. Keys idle for 10 minutes are evicted.
 */
export function sharedFlow(
	identity: { provider: string; baseUrl: string; apiKey: string; model: string },
	limits: FlowLimits,
	clock: Clock,
): FlowLease {
	const now = clock.now();
	for (const [k, c] of shared) {
		if (c.idle && now - c.lastUsedAt >= IDLE_EVICT_MS) {
			shared.delete(k);
			sharedStore.delete(k);
		}
	}
	const key = createHash('sha256')
		.update([identity.provider, identity.baseUrl, identity.apiKey, identity.model].join('\u0000'))
		.digest('hex');
	let c = shared.get(key);
	if (!c) {
		c = new FlowController(key, sharedStore, clock);
		shared.set(key, c);
	}
	return c.lease(limits);
}

/** Keys held by `sharedFlow` (for tests of eviction). */
export function sharedFlowKeys(): number {
	return shared.size;
}

/** For tests: forget every shared controller (optionally use another store). */
export function resetSharedFlow(store: FlowStore = new MemoryFlowStore()): void {
	shared.clear();
	sharedStore = store;
}
