import { onAbort } from '../../abort';
import type { Clock } from '../../types';
import type { FlowObservation, FlowReport, Limiter } from './limiter';
import {
	admittedRates,
	countAnswer,
	DEFAULT_BURST_SECONDS,
	isCluster,
	learnLimits,
	validateLimits,
	type LearnedLimits,
	type LimitState,
	type RateLimits,
	type RecentAnswers,
} from './policy';
import { limitKey, MemoryLimitStore, type StoreLimits, type SyncLimitOps } from './store';

interface Waiter {
	tokens: number;
	resolve: () => void;
	reject: (e: unknown) => void;
	signal?: AbortSignal;
	/** Removes the abort listener once served (../../abort.ts). */
	detach?: () => void;
	gone: boolean;
}

/** The one key of a controller's store: a controller is one limit key already. */
const KEY = 'flow';

/**
 * The limiter of one credential + endpoint + model in this process: a FIFO queue in front of the
 * key's state, kept in a `LimitStore` (store.ts) and changed only through its operations — the
 * ones the Redis script runs — so one process and several share one policy. What stays here is
 * what one process knows exactly: its queue (served in order across the runs sharing the key),
 * the live leases whose lowest limits are the ceilings (a released lease stops holding the others
 * down at once, where the store's own rule for callers that never say goodbye waits 15 s), and
 * the recent answers of all of them (the cluster rule's counts).
 */
export class FlowController {
	private readonly queue: Waiter[] = [];
	private live = 0;
	private pumping = false;
	private readonly leases = new Map<number, RateLimits>();
	private nextLease = 1;
	private readonly store: MemoryLimitStore;
	/** The store's operations, answered at once: the queue is served without a turn of the event loop. */
	private readonly ops: SyncLimitOps;
	/** The lowest limits of the live leases (the last ones, when none is left). */
	private ceilings: RateLimits = { rpm: Infinity, tpm: Infinity };
	private readonly learned: LearnedLimits = { learnedRpm: 0, learnedTpm: 0 };
	private readonly recent: RecentAnswers;
	lastUsedAt: number;

	constructor(private readonly clock: Clock) {
		this.store = new MemoryLimitStore(clock, 'given');
		this.ops = this.store.sync;
		const now = clock.now();
		this.recent = { recent429: 0, recentAll: 0, recentAt: now };
		this.lastUsedAt = now;
	}

	/** The key's numbers, and the 429s and answers seen recently (numbers only, as Redis holds them). */
	get state(): LimitState & RecentAnswers & { lastUsedAt: number } {
		return { ...this.store.state(KEY)!, ...this.recent, lastUsedAt: this.lastUsedAt };
	}

	/** Registers a run's configured limits; the lowest of the live leases is the ceiling. */
	lease(limits: RateLimits): FlowLease {
		validateLimits(limits);
		const id = this.nextLease++;
		this.leases.set(id, limits);
		this.recomputeCeiling();
		return new FlowLease(this, id, limits);
	}

	/** @internal */
	releaseLease(id: number): void {
		if (this.leases.delete(id) && this.leases.size > 0) this.recomputeCeiling();
		this.lastUsedAt = this.clock.now();
	}

	get leaseCount(): number {
		return this.leases.size;
	}

	get idle(): boolean {
		return this.leases.size === 0 && this.live === 0;
	}

	private recomputeCeiling(): void {
		let rpm = Infinity;
		let tpm = Infinity;
		let burst = Infinity;
		for (const l of this.leases.values()) {
			rpm = Math.min(rpm, l.rpm);
			tpm = Math.min(tpm, l.tpm);
			burst = Math.min(burst, l.burstSeconds ?? DEFAULT_BURST_SECONDS);
		}
		this.ceilings = {
			rpm,
			tpm,
			burstSeconds: Number.isFinite(burst) ? burst : DEFAULT_BURST_SECONDS,
		};
		this.limitsChanged();
		this.touch();
	}

	/** What every store call carries: the ceilings and the limits the headers announced. */
	private storeLimits: StoreLimits = { rpm: Infinity, tpm: Infinity };

	private limitsChanged(): void {
		this.storeLimits = { ...this.ceilings, ...this.learned };
	}

	/** Hands the store the current limits (its buckets refilled to now). */
	private touch(): void {
		this.ops.adjust(KEY, this.storeLimits, 0);
	}

	/** Resolves when one request of `tokens` estimated tokens may be sent. */
	acquire(tokens: number, signal?: AbortSignal): Promise<void> {
		if (signal?.aborted) return Promise.reject(signal.reason);
		return new Promise<void>((resolve, reject) => {
			const w: Waiter = { tokens, resolve, reject, signal, gone: false };
			if (signal) {
				// An aborted waiter leaves at once, not when it reaches the head of the queue.
				w.detach = onAbort(signal, () => {
					if (w.gone) return;
					w.gone = true;
					this.live--;
					reject(signal.reason);
				});
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
		this.ops.adjust(KEY, this.storeLimits, estimatedTokens - actualTokens);
	}

	/**
	 * Feeds one answer to the limiter. Returns `'cluster'` when a 429 slowed everyone down,
	 * `'isolated'` when only its own request must wait.
	 */
	observe(o: FlowObservation): 'cluster' | 'isolated' | undefined {
		const now = this.clock.now();
		countAnswer(this.recent, o.outcome === 'rate_limited', now);
		this.lastUsedAt = now;
		if (o.rateLimit) {
			// Refilled at the old rates up to now, then the limits the headers announce apply.
			this.touch();
			learnLimits(this.learned, o.rateLimit);
			this.limitsChanged();
		}
		const limits = this.storeLimits;
		if (o.outcome === 'ok') this.ops.grow(KEY, limits, 1);
		// Refilled to now, as the operations of the other outcomes do first.
		if (o.outcome === 'other') this.touch();
		if (o.outcome !== 'rate_limited') return undefined;
		if (!isCluster(this.recent, o.rateLimit)) {
			this.ops.rateLimited(KEY, limits, 0);
			return 'isolated';
		}
		this.ops.cut(KEY, limits, 0);
		return 'cluster';
	}

	report(configured: RateLimits): FlowReport {
		const s = this.store.state(KEY)!;
		const out: FlowReport = {
			settledRpm: Math.min(admittedRates(s).rpm, configured.rpm),
			configuredRpm: configured.rpm,
			lowestConfiguredRpm: s.ceilingRpm,
			sharedWith: Math.max(0, this.leases.size - 1),
			cuts: s.cuts,
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
				const wait = this.ops.take(KEY, this.storeLimits, head.tokens);
				if (wait <= 0) {
					this.queue.shift();
					this.lastUsedAt = this.clock.now();
					head.gone = true;
					this.live--;
					head.detach?.();
					head.resolve();
					continue;
				}
				await this.nap(head, wait);
			}
		} finally {
			this.pumping = false;
		}
	}

	/** Short naps: a cut or a learned limit may change the wait meanwhile; the head may leave. */
	private async nap(head: Waiter, wait: number): Promise<void> {
		const wake = new AbortController();
		const detach = head.signal && onAbort(head.signal, () => wake.abort());
		try {
			await this.clock.sleep(Math.min(wait, 1_000), wake.signal);
		} catch {
			// the head left while we slept; the loop moves on
		} finally {
			detach?.();
		}
	}
}

/** One run's use of a limiter: its own configured limits, released when the run ends. */
export class FlowLease implements Limiter {
	private released = false;
	constructor(
		readonly controller: FlowController,
		private readonly id: number,
		readonly limits: RateLimits,
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

/** A limiter of its own (tests, benches, one-off runs): not shared with anyone. */
export function privateFlow(limits: RateLimits, clock: Clock): FlowLease {
	return new FlowController(clock).lease(limits);
}

const IDLE_EVICT_MS = 10 * 60_000;
const shared = new Map<string, FlowController>();

/**
 * One limiter per credential + endpoint + model in this process, so two executions (or two
 * nodes) using the same key share the budget, at the lowest limit any of them set. Keys idle
 * for 10 minutes are evicted.
 */
export function sharedFlow(
	identity: { provider: string; baseUrl: string; apiKey: string; model: string },
	limits: RateLimits,
	clock: Clock,
): FlowLease {
	const now = clock.now();
	for (const [k, c] of shared) if (c.idle && now - c.lastUsedAt >= IDLE_EVICT_MS) shared.delete(k);
	const key = limitKey(identity);
	let c = shared.get(key);
	if (!c) {
		c = new FlowController(clock);
		shared.set(key, c);
	}
	return c.lease(limits);
}

/** Keys held by `sharedFlow` (for tests of eviction). */
export function sharedFlowKeys(): number {
	return shared.size;
}

/** For tests: forget every shared limiter. */
export function resetSharedFlow(): void {
	shared.clear();
}
