import type { Clock } from '../../types';
import type { FlowObservation, FlowReport, Limiter } from './limiter';
import {
	admittedRates,
	countAnswer,
	cutShare,
	DEFAULT_BURST_SECONDS,
	giveBack,
	isCluster,
	learnLimits,
	newLimitState,
	onOk,
	onRateLimited,
	takeOne,
	validateLimits,
	waitToSend,
	type LimitState,
	type RateLimits,
	type RecentAnswers,
} from './policy';
import { limitKey } from './store';

interface Waiter {
	tokens: number;
	resolve: () => void;
	reject: (e: unknown) => void;
	signal?: AbortSignal;
	onAbort?: () => void;
	gone: boolean;
}

/**
 * The limiter of one credential + endpoint + model in this process: a FIFO queue in front of the
 * key's state (policy.ts), whose ceilings are the lowest limits every live run configured for
 * the key. Runs use it through a `FlowLease` (their own ceiling, released at the end).
 */
export class FlowController {
	private readonly queue: Waiter[] = [];
	private live = 0;
	private pumping = false;
	private readonly leases = new Map<number, RateLimits>();
	private nextLease = 1;
	private burstSeconds = DEFAULT_BURST_SECONDS;
	/** The key's numbers, and the 429s and answers seen recently (the cluster rule's counts). */
	readonly state: LimitState & RecentAnswers & { lastUsedAt: number };

	constructor(private readonly clock: Clock) {
		const now = clock.now();
		this.state = {
			...newLimitState(now),
			recent429: 0,
			recentAll: 0,
			recentAt: now,
			lastUsedAt: now,
		};
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
		this.state.lastUsedAt = this.clock.now();
	}

	get leaseCount(): number {
		return this.leases.size;
	}

	get idle(): boolean {
		return this.leases.size === 0 && this.live === 0;
	}

	get lastUsedAt(): number {
		return this.state.lastUsedAt;
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
		this.state.ceilingRpm = rpm;
		this.state.ceilingTpm = tpm;
		this.burstSeconds = Number.isFinite(burst) ? burst : DEFAULT_BURST_SECONDS;
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
		giveBack(this.state, estimatedTokens - actualTokens, this.clock.now(), this.burstSeconds);
	}

	/**
	 * Feeds one answer to the limiter. Returns `'cluster'` when a 429 slowed everyone down,
	 * `'isolated'` when only its own request must wait.
	 */
	observe(o: FlowObservation): 'cluster' | 'isolated' | undefined {
		const s = this.state;
		const now = this.clock.now();
		waitToSend(s, 0, now, this.burstSeconds); // refilled at the old rate up to now
		countAnswer(s, o.outcome === 'rate_limited', now);
		s.lastUsedAt = now;
		learnLimits(s, o.rateLimit);
		if (o.outcome === 'ok') onOk(s, now);
		if (o.outcome !== 'rate_limited') return undefined;
		onRateLimited(s, now);
		if (!isCluster(s, o.rateLimit)) return 'isolated';
		cutShare(s, now);
		return 'cluster';
	}

	report(configured: RateLimits): FlowReport {
		const s = this.state;
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
				const now = this.clock.now();
				const wait = waitToSend(this.state, head.tokens, now, this.burstSeconds);
				if (wait <= 0) {
					this.queue.shift();
					takeOne(this.state, head.tokens);
					this.state.lastUsedAt = now;
					head.gone = true;
					this.live--;
					if (head.onAbort) head.signal?.removeEventListener('abort', head.onAbort);
					head.resolve();
					continue;
				}
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
