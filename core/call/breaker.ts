import type { ErrorCode } from '../types';

export interface BreakerOptions {
	/** Failure share of the window that opens the circuit. @default 0.1 */
	readonly threshold?: number;
	/** Attempts remembered. @default 200 */
	readonly windowSize?: number;
	/** Attempts seen before the breaker may open (a cold start is not a trend). @default 50 */
	readonly minSamples?: number;
}

/**
 * Watches the recent attempts of a run. Rate limits and content refusals are not counted:
 * the first is waited out, the second belongs to one item's text.
 */
export class CircuitBreaker {
	private readonly window: Uint8Array;
	private next = 0;
	private filled = 0;
	private failures = 0;
	readonly threshold: number;
	readonly minSamples: number;

	constructor(o: BreakerOptions = {}) {
		this.threshold = o.threshold ?? 0.1;
		const size = o.windowSize ?? 200;
		this.minSamples = Math.min(o.minSamples ?? 50, size);
		if (!(this.threshold > 0 && this.threshold <= 1)) {
			throw new TypeError(`Expected \`threshold\` to be in (0, 1], got ${this.threshold}`);
		}
		if (!Number.isInteger(size) || size < 1)
			throw new TypeError(`Expected \`windowSize\` to be an integer >= 1, got ${size}`);
		this.window = new Uint8Array(size);
	}

	static counts(code: ErrorCode | 'ok'): boolean {
		return code !== 'rate_limited' && code !== 'content_filter' && code !== 'canceled';
	}

	/** Records one attempt; returns true when the circuit is open after it. */
	record(outcome: ErrorCode | 'ok'): boolean {
		if (!CircuitBreaker.counts(outcome)) return this.isOpen;
		const bit = outcome === 'ok' ? 0 : 1;
		if (this.filled === this.window.length) this.failures -= this.window[this.next];
		else this.filled++;
		this.window[this.next] = bit;
		this.failures += bit;
		this.next = (this.next + 1) % this.window.length;
		return this.isOpen;
	}

	get failureShare(): number {
		return this.filled === 0 ? 0 : this.failures / this.filled;
	}

	get isOpen(): boolean {
		return this.filled >= this.minSamples && this.failureShare > this.threshold;
	}

	/** After a pause: start a fresh window (half-open). */
	reset(): void {
		this.window.fill(0);
		this.next = 0;
		this.filled = 0;
		this.failures = 0;
	}
}
