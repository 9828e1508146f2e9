import { DEFAULT_MAX_ATTEMPTS } from '../defaults';
import type { LlmBatchError } from './errors';

/** The one retry layer of the package (SDK clients run with `maxRetries: 0`). */
export interface RetryPolicy {
	/**
	 * Attempts per item, the first included. Rate-limit waits do not count (see `maxRateLimitWaits`).
	 * @default 5
	 */
	readonly maxAttempts?: number;
	/** First backoff ceiling. @default 500 */
	readonly baseDelayMs?: number;
	/** Largest backoff ceiling. @default 60000 */
	readonly maxDelayMs?: number;
	/** 429 answers an item may wait out before they start to consume attempts. @default 20 */
	readonly maxRateLimitWaits?: number;
	/**
	 * Flex's unbilled 429 `resource_unavailable` (no capacity now) an item waits out, with the
	 * same capped backoff, before it fails `resource_unavailable` (retryable). They never use
	 * attempts. With a Flex Deadline the item waits until the deadline instead, then goes on
	 * at the standard tier. @default 30 (about 15 minutes of waits at the 60 s ceiling)
	 */
	readonly maxCapacityWaits?: number;
}

export interface ResolvedRetryPolicy {
	readonly maxAttempts: number;
	readonly baseDelayMs: number;
	readonly maxDelayMs: number;
	readonly maxRateLimitWaits: number;
	readonly maxCapacityWaits: number;
}

export function resolveRetryPolicy(p: RetryPolicy = {}): ResolvedRetryPolicy {
	const r = {
		maxAttempts: p.maxAttempts ?? DEFAULT_MAX_ATTEMPTS,
		baseDelayMs: p.baseDelayMs ?? 500,
		maxDelayMs: p.maxDelayMs ?? 60_000,
		maxRateLimitWaits: p.maxRateLimitWaits ?? 20,
		maxCapacityWaits: p.maxCapacityWaits ?? 30,
	};
	if (!Number.isInteger(r.maxAttempts) || r.maxAttempts < 1) {
		throw new TypeError(`Expected \`maxAttempts\` to be an integer >= 1, got ${r.maxAttempts}`);
	}
	if (!(r.baseDelayMs >= 0))
		throw new TypeError(`Expected \`baseDelayMs\` to be >= 0, got ${r.baseDelayMs}`);
	if (!(r.maxDelayMs >= r.baseDelayMs)) {
		throw new TypeError(`Expected \`maxDelayMs\` to be >= baseDelayMs, got ${r.maxDelayMs}`);
	}
	if (!Number.isInteger(r.maxCapacityWaits) || r.maxCapacityWaits < 0) {
		throw new TypeError(
			`Expected \`maxCapacityWaits\` to be an integer >= 0, got ${r.maxCapacityWaits}`,
		);
	}
	return r;
}

/** Exponential ceiling for the n-th failure (1-based): base * 2^(n-1), capped. */
export function backoffCeiling(failure: number, p: ResolvedRetryPolicy): number {
	return Math.min(p.maxDelayMs, p.baseDelayMs * 2 ** Math.max(0, failure - 1));
}

/**
 * Full jitter (AWS architecture blog): uniform in [0, ceiling). Spreads workers that failed
 * together, unlike a fixed `retry-after-ms` wait which sends them back in lock-step.
 * A `Retry-After` from the provider is a floor: never retry earlier than it asked.
 */
export function retryDelay(
	failure: number,
	p: ResolvedRetryPolicy,
	random: () => number,
	error?: Pick<LlmBatchError, 'retryAfterMs'>,
): number {
	const jittered = Math.floor(random() * backoffCeiling(failure, p));
	const floor = error?.retryAfterMs ?? 0;
	return Math.max(jittered, Math.ceil(floor));
}

/**
 * The wait after the n-th `resource_unavailable` of an item (1-based): the same jittered backoff
 * as any retry (at least a Retry-After, capped at `maxRetryAfterMs`), ending at the Flex
 * Deadline when there is one, so a waiting item moves to the standard tier right then.
 */
export function capacityDelay(
	wait: number,
	p: ResolvedRetryPolicy,
	random: () => number,
	o: { retryAfterMs?: number; maxRetryAfterMs: number; untilDeadlineMs?: number },
): number {
	const floor =
		o.retryAfterMs === undefined
			? {}
			: { retryAfterMs: Math.min(o.retryAfterMs, o.maxRetryAfterMs) };
	const delay = retryDelay(wait, p, random, floor);
	return o.untilDeadlineMs === undefined ? delay : Math.max(0, Math.min(delay, o.untilDeadlineMs));
}
