import type { Clock } from '../types';

/**
 * A continuously refilled bucket (the providers document their RPM / TPM limits this way).
 * `level` may go negative: a request larger than the capacity is let through when the
 * bucket is full and leaves a debt, instead of waiting forever.
 */
export class TokenBucket {
	private level: number;
	private last: number;

	constructor(
		private ratePerMs: number,
		private capacity: number,
		now: number,
	) {
		this.level = capacity;
		this.last = now;
	}

	private refill(now: number): void {
		if (now > this.last) {
			this.level = Math.min(this.capacity, this.level + (now - this.last) * this.ratePerMs);
			this.last = now;
		}
	}

	/** Milliseconds until `n` can be taken (0 = now). */
	waitFor(n: number, now: number): number {
		if (!Number.isFinite(this.ratePerMs)) return 0;
		this.refill(now);
		const need = Math.min(n, this.capacity);
		if (this.level >= need) return 0;
		return Math.ceil((need - this.level) / this.ratePerMs);
	}

	take(n: number, now: number): void {
		if (!Number.isFinite(this.ratePerMs)) return;
		this.refill(now);
		this.level -= n;
	}

	/** Give back (n < 0 takes more): corrects an estimate once the real usage is known. */
	adjust(n: number, now: number): void {
		if (!Number.isFinite(this.ratePerMs)) return;
		this.refill(now);
		this.level = Math.min(this.capacity, this.level + n);
	}

	drain(now: number): void {
		this.refill(now);
		this.level = Math.min(this.level, 0);
	}

	setRate(ratePerMs: number, capacity: number): void {
		this.ratePerMs = ratePerMs;
		this.capacity = capacity;
		this.level = Math.min(this.level, capacity);
	}

	get available(): number {
		return this.level;
	}
}

export interface RateLimits {
	/** Requests per minute; Infinity for none. */
	readonly rpm: number;
	/** Tokens per minute (input estimate + max output, as OpenAI counts); Infinity for none. */
	readonly tpm: number;
	/**
	 * Seconds of traffic the bucket may release at once. Small, so a fresh limiter does not
	 * fire a burst the provider's own (shorter-window) enforcement rejects, and half of the
	 * one second providers allow: the other half absorbs network jitter and estimate error.
	 * @default 0.5
	 */
	readonly burstSeconds?: number;
}

function validateLimits(l: RateLimits): void {
	if (!(l.rpm > 0)) throw new TypeError(`Expected \`rpm\` to be a number > 0, got ${l.rpm}`);
	if (!(l.tpm > 0)) throw new TypeError(`Expected \`tpm\` to be a number > 0, got ${l.tpm}`);
}

function capacityOf(perMinute: number, burstSeconds: number): number {
	return Math.max(1, (perMinute / 60) * burstSeconds);
}

interface Waiter {
	tokens: number;
	resolve: () => void;
	reject: (e: unknown) => void;
	signal?: AbortSignal;
}

/**
 * The in-process limiter a StoreLimiter falls back to while its store is unreachable (a copy
 * of the engine's in-process limiter, so the fallback does not depend on how the engine's own
 * controller evolves). Request + token buckets behind one FIFO queue. One pump serves waiters in order, so a
 * big request cannot be starved by small ones and the release rate never exceeds the
 * limit. `pause` holds everyone (a 429's Retry-After, an open circuit).
 */
export class FallbackLimiter {
	private readonly requests: TokenBucket;
	private readonly tokens: TokenBucket;
	private readonly queue: Waiter[] = [];
	private pumping = false;
	private pausedUntil = 0;
	private limits: RateLimits;

	constructor(
		limits: RateLimits,
		private readonly clock: Clock,
	) {
		validateLimits(limits);
		this.limits = limits;
		const burst = limits.burstSeconds ?? 0.5;
		const now = clock.now();
		this.requests = new TokenBucket(limits.rpm / 60_000, capacityOf(limits.rpm, burst), now);
		this.tokens = new TokenBucket(limits.tpm / 60_000, capacityOf(limits.tpm, burst), now);
	}

	get current(): RateLimits {
		return this.limits;
	}

	setLimits(limits: RateLimits): void {
		validateLimits(limits);
		this.limits = limits;
		const burst = limits.burstSeconds ?? 0.5;
		this.requests.setRate(limits.rpm / 60_000, capacityOf(limits.rpm, burst));
		this.tokens.setRate(limits.tpm / 60_000, capacityOf(limits.tpm, burst));
	}

	/** Resolves when one request of `tokens` estimated tokens may be sent. */
	acquire(tokens: number, signal?: AbortSignal): Promise<void> {
		if (signal?.aborted) return Promise.reject(signal.reason);
		return new Promise<void>((resolve, reject) => {
			this.queue.push({ tokens, resolve, reject, signal });
			if (!this.pumping) void this.pump();
		});
	}

	/** The provider said 429: nobody sends before `ms` from now, and the request bucket starts empty. */
	penalize(ms: number | undefined): void {
		const now = this.clock.now();
		this.requests.drain(now);
		if (ms !== undefined && ms > 0) this.pausedUntil = Math.max(this.pausedUntil, now + ms);
	}

	pause(ms: number): void {
		this.pausedUntil = Math.max(this.pausedUntil, this.clock.now() + ms);
	}

	/** Replace the estimate by the usage the provider reported. */
	correct(estimatedTokens: number, actualTokens: number): void {
		this.tokens.adjust(estimatedTokens - actualTokens, this.clock.now());
	}

	get waiting(): number {
		return this.queue.length;
	}

	private async pump(): Promise<void> {
		this.pumping = true;
		try {
			while (this.queue.length > 0) {
				const head = this.queue[0];
				if (head.signal?.aborted) {
					this.queue.shift();
					head.reject(head.signal.reason);
					continue;
				}
				const now = this.clock.now();
				const wait = Math.max(
					this.pausedUntil - now,
					this.requests.waitFor(1, now),
					this.tokens.waitFor(head.tokens, now),
				);
				if (wait <= 0) {
					this.queue.shift();
					this.requests.take(1, now);
					this.tokens.take(head.tokens, now);
					head.resolve();
					continue;
				}
				try {
					await this.clock.sleep(wait, head.signal);
				} catch {
					// the head was aborted while we slept; the loop rejects it
				}
			}
		} finally {
			this.pumping = false;
		}
	}
}
