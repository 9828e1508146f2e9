// The bucket arithmetic shared by MemoryLimitStore and (in Lua) the Redis store. The local
// fallback of a StoreLimiter is the in-process flow controller (core/call/controller.ts).

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
