import { describe, expect, it } from 'vitest';

import { LlmBatchError } from '../../../core/call/errors';
import { backoffCeiling, resolveRetryPolicy, retryDelay } from '../../../core/call/retry';

describe('retry policy', () => {
	const p = resolveRetryPolicy({ baseDelayMs: 500, maxDelayMs: 4000 });

	it('doubles the ceiling per failure and caps it', () => {
		expect([1, 2, 3, 4, 5, 6].map((n) => backoffCeiling(n, p))).toEqual([
			500, 1000, 2000, 4000, 4000, 4000,
		]);
	});

	it('applies full jitter: uniform in [0, ceiling)', () => {
		expect([1, 2, 3].map((n) => retryDelay(n, p, () => 0.5))).toEqual([250, 500, 1000]);
		expect([1, 2, 3].map((n) => retryDelay(n, p, () => 0))).toEqual([0, 0, 0]);
		expect(retryDelay(3, p, () => 0.999)).toBe(1998);
	});

	it('never retries before the Retry-After the provider asked for', () => {
		const err = new LlmBatchError('server_error', 'x', { retryAfterMs: 3000 });
		expect(retryDelay(1, p, () => 0.5, err)).toBe(3000);
		expect(
			retryDelay(4, p, () => 0.99, new LlmBatchError('server_error', 'x', { retryAfterMs: 10 })),
		).toBe(3960);
	});

	it('defaults: 5 attempts, 500 ms base, 60 s cap, 20 rate-limit waits, 30 flex capacity waits', () => {
		expect(resolveRetryPolicy()).toEqual({
			maxAttempts: 5,
			baseDelayMs: 500,
			maxDelayMs: 60_000,
			maxRateLimitWaits: 20,
			maxCapacityWaits: 30,
		});
	});

	it('rejects nonsense at construction', () => {
		expect(() => resolveRetryPolicy({ maxAttempts: 0 })).toThrow('Expected `maxAttempts`');
		expect(() => resolveRetryPolicy({ baseDelayMs: 100, maxDelayMs: 50 })).toThrow(
			'Expected `maxDelayMs`',
		);
	});
});
