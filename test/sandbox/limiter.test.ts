import { describe, expect, it } from 'vitest';

import {
	anthropicRateHeaders,
	formatResetDuration,
	openAiRateHeaders,
	AccountLimits,
} from '../../sandbox/limiter';
import { StatsRecorder } from '../../sandbox/stats';

function fakeClock(start = 0) {
	const c = { t: start, now: () => c.t };
	return c;
}

describe('sandbox rate limiter (fake clock)', () => {
	it('refills the request bucket continuously and says exactly how long to wait', () => {
		const clock = fakeClock();
		const lim = new AccountLimits({ rpm: 60, tpm: Infinity, burstSeconds: 1, now: clock.now });
		expect(lim.admit(10).ok).toBe(true);
		const no = lim.admit(10);
		expect(no).toMatchObject({
			ok: false,
			reason: 'requests',
			retryAfterMs: 1000,
			tooLarge: false,
		});
		clock.t = 999;
		expect(lim.admit(10)).toMatchObject({ ok: false, retryAfterMs: 1 });
		clock.t = 1000;
		expect(lim.admit(10).ok).toBe(true);
		clock.t = 1250;
		expect(lim.admit(10)).toMatchObject({ ok: false, retryAfterMs: 750 });
	});

	it('holds a burst of rate * burstSeconds, then the steady rate', () => {
		const clock = fakeClock();
		const lim = new AccountLimits({ rpm: 600, tpm: Infinity, burstSeconds: 2, now: clock.now });
		let admitted = 0;
		for (let i = 0; i < 50; i++) if (lim.admit(1).ok) admitted++;
		expect(admitted).toBe(20);
		clock.t = 500; // 10 per second -> 5 more
		admitted = 0;
		for (let i = 0; i < 50; i++) if (lim.admit(1).ok) admitted++;
		expect(admitted).toBe(5);
	});

	it('limits by tokens (input + max_tokens) with its own wait', () => {
		const clock = fakeClock();
		const lim = new AccountLimits({ rpm: Infinity, tpm: 60_000, burstSeconds: 1, now: clock.now }); // 1 token/ms, capacity 1000
		expect(lim.admit(800).ok).toBe(true);
		expect(lim.admit(300)).toMatchObject({ ok: false, reason: 'tokens', retryAfterMs: 100 });
		clock.t = 100;
		expect(lim.admit(300).ok).toBe(true);
		expect(lim.state().tokens).toEqual({ limit: 60_000, remaining: 0, resetMs: 1000 });
	});

	it('lets a request above the burst pass when the bucket is full, leaving it in debt, and rejects one above the minute limit', () => {
		const clock = fakeClock();
		const lim = new AccountLimits({ rpm: Infinity, tpm: 600, burstSeconds: 1, now: clock.now }); // 10 tokens/s, capacity 10
		expect(lim.admit(50).ok).toBe(true);
		// Debt of 40 plus a full bucket of 10 must refill: 5 seconds.
		expect(lim.admit(50)).toMatchObject({ ok: false, retryAfterMs: 5000 });
		clock.t = 5000;
		expect(lim.admit(50).ok).toBe(true);
		expect(lim.admit(601)).toMatchObject({ ok: false, reason: 'tokens', tooLarge: true });
	});

	it('keeps any one-minute window at rpm plus the initial burst under a steady flood', () => {
		const clock = fakeClock();
		const rpm = 600;
		const lim = new AccountLimits({ rpm, tpm: Infinity, burstSeconds: 1, now: clock.now }); // capacity 10
		const stats = new StatsRecorder();
		for (clock.t = 0; clock.t < 300_000; clock.t += 10) {
			if (lim.admit(5).ok) stats.accept(clock.t, 5);
		}
		const s = stats.snapshot();
		// The full bucket at t=0 (10) plus 599 refills inside the first minute.
		expect(s.maxRequestsPerWindow(60_000)).toBe(rpm + 10 - 1);
		expect(s.maxRequestsPerWindow(1000)).toBe(10 + 9);
		expect(s.maxTokensPerWindow(60_000)).toBe((rpm + 9) * 5);
		expect(s.accepted).toBe(10 + 2999);
	});

	it('validates its options', () => {
		expect(
			() => new AccountLimits({ rpm: 0, tpm: Infinity, burstSeconds: 1, now: Date.now }),
		).toThrow(/rpm/);
		expect(() => new AccountLimits({ rpm: 1, tpm: -1, burstSeconds: 1, now: Date.now })).toThrow(
			/tpm/,
		);
		expect(() => new AccountLimits({ rpm: 1, tpm: 1, burstSeconds: 0, now: Date.now })).toThrow(
			/burstSeconds/,
		);
	});
});

describe('sandbox rate-limit headers', () => {
	it('formats OpenAI reset durations', () => {
		expect([120, 999.2, 1000, 1500, 90_500, 360_000, 3_723_000].map(formatResetDuration)).toEqual([
			'120ms',
			'1000ms',
			'1s',
			'1.5s',
			'1m30.5s',
			'6m0s',
			'1h2m3s',
		]);
	});

	it('writes both providers header families from one state', () => {
		const state = {
			requests: { limit: 60, remaining: 0, resetMs: 750 },
			tokens: { limit: 1000, remaining: 12, resetMs: 61_000 },
		};
		const o: Record<string, string> = {};
		openAiRateHeaders(state, o);
		expect(o).toEqual({
			'x-ratelimit-limit-requests': '60',
			'x-ratelimit-remaining-requests': '0',
			'x-ratelimit-reset-requests': '750ms',
			'x-ratelimit-limit-tokens': '1000',
			'x-ratelimit-remaining-tokens': '12',
			'x-ratelimit-reset-tokens': '1m1s',
		});
		const a: Record<string, string> = {};
		anthropicRateHeaders(state, Date.UTC(2025, 0, 1), a);
		expect(a).toEqual({
			'anthropic-ratelimit-requests-limit': '60',
			'anthropic-ratelimit-requests-remaining': '0',
			'anthropic-ratelimit-requests-reset': '2025-01-01T00:00:00.750Z',
			'anthropic-ratelimit-tokens-limit': '1000',
			'anthropic-ratelimit-tokens-remaining': '12',
			'anthropic-ratelimit-tokens-reset': '2025-01-01T00:01:01.000Z',
			'anthropic-ratelimit-input-tokens-limit': '1000',
			'anthropic-ratelimit-input-tokens-remaining': '12',
			'anthropic-ratelimit-input-tokens-reset': '2025-01-01T00:01:01.000Z',
		});
	});
});

describe('sandbox stats windows', () => {
	it('finds the busiest window over half-open intervals [t, t + w)', () => {
		const s = new StatsRecorder();
		for (const [t, tokens] of [
			[0, 1],
			[10, 2],
			[20, 3],
			[1000, 4],
			[1005, 5],
			[3000, 100],
		])
			s.accept(t, tokens);
		const snap = s.snapshot();
		expect(snap.maxRequestsPerWindow(1000)).toBe(4); // 10, 20, 1000, 1005
		expect(snap.maxRequestsPerWindow(5)).toBe(1);
		expect(snap.maxRequestsPerWindow(6)).toBe(2); // 1000, 1005
		expect(snap.maxTokensPerWindow(1000)).toBe(100);
		expect(snap.maxTokensPerWindow(60_000)).toBe(115);
	});

	// How fast the scan is lives in `npm run bench:stats` (a ratio against a plain pass).
	it('grows past its initial capacity and scans 200k timestamps', () => {
		const s = new StatsRecorder();
		for (let i = 0; i < 200_000; i++) s.accept(i, 1);
		expect(s.snapshot().maxRequestsPerWindow(60_000)).toBe(60_000);
	});

	it('counts duplicate paid successes per prompt', () => {
		const s = new StatsRecorder();
		s.success('a', { input: 3, output: 4 });
		s.success('b', { input: 1, output: 1 });
		s.success('a', { input: 3, output: 4 });
		expect(s.snapshot()).toMatchObject({
			paidSuccesses: 3,
			duplicateSuccesses: 1,
			successesByPrompt: { a: 2, b: 1 },
			inputTokens: 7,
			outputTokens: 9,
		});
	});
});
