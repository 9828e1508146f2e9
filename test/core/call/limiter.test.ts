import { describe, expect, it } from 'vitest';

import {
	RateLimiter,
	resetSharedLimiters,
	sharedLimiter,
	TokenBucket,
} from '../../../core/call/limiter';
import { FakeClock } from '../../helpers/fake-clock';

describe('TokenBucket', () => {
	it('refills continuously and reports the exact wait', () => {
		const b = new TokenBucket(1 / 100, 5, 0); // 10 per second, capacity 5
		for (let i = 0; i < 5; i++) {
			expect(b.waitFor(1, 0)).toBe(0);
			b.take(1, 0);
		}
		expect(b.waitFor(1, 0)).toBe(100);
		expect(b.waitFor(1, 100)).toBe(0);
	});

	it('lets a request larger than the capacity through when full, leaving a debt', () => {
		const b = new TokenBucket(1, 10, 0);
		expect(b.waitFor(50, 0)).toBe(0);
		b.take(50, 0);
		expect(b.waitFor(1, 0)).toBe(41);
	});
});

describe('RateLimiter', () => {
	async function releaseTimes(
		clock: FakeClock,
		limiter: RateLimiter,
		n: number,
		tokens = 1,
	): Promise<number[]> {
		const times: number[] = [];
		const all = Array.from({ length: n }, () =>
			limiter.acquire(tokens).then(() => times.push(clock.now())),
		);
		await clock.runAll();
		await Promise.all(all);
		return times;
	}

	it('never releases more than the RPM in any 60 s window (burst of 1 s)', async () => {
		const clock = new FakeClock();
		const limiter = new RateLimiter({ rpm: 600, tpm: Infinity, burstSeconds: 1 }, clock);
		const times = await releaseTimes(clock, limiter, 1500);
		expect(times).toHaveLength(1500);
		let maxInWindow = 0;
		for (let i = 0, j = 0; i < times.length; i++) {
			while (times[i] - times[j] >= 60_000) j++;
			maxInWindow = Math.max(maxInWindow, i - j + 1);
		}
		expect(maxInWindow).toBeLessThanOrEqual(600 + 10); // rate * 60 s + one burst of 10
		// and it is not wasteful: 1500 at 10/s after a burst of 10 takes 149 s
		expect(times[times.length - 1]).toBe(149_000);
	});

	it('releases half a second of traffic at once by default', async () => {
		const clock = new FakeClock();
		const limiter = new RateLimiter({ rpm: 1200, tpm: Infinity }, clock); // 20/s, capacity 10
		const times = await releaseTimes(clock, limiter, 12);
		expect(times).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 50, 100]);
	});

	it('paces by tokens when the token limit binds', async () => {
		const clock = new FakeClock();
		const limiter = new RateLimiter({ rpm: 10_000, tpm: 60_000, burstSeconds: 1 }, clock); // 1000 tokens/s, capacity 1000
		const times = await releaseTimes(clock, limiter, 6, 500);
		expect(times).toEqual([0, 0, 500, 1000, 1500, 2000]);
	});

	it('corrects the token estimate with the reported usage', async () => {
		const clock = new FakeClock();
		const limiter = new RateLimiter({ rpm: 10_000, tpm: 60_000, burstSeconds: 1 }, clock);
		await limiter.acquire(1000);
		limiter.correct(1000, 100); // the call used far less than estimated
		const t: number[] = [];
		void limiter.acquire(900).then(() => t.push(clock.now()));
		await clock.advance(0);
		expect(t).toEqual([0]);
	});

	it('holds everyone for a Retry-After after a 429', async () => {
		const clock = new FakeClock();
		const limiter = new RateLimiter({ rpm: 6000, tpm: Infinity }, clock);
		await limiter.acquire(1);
		limiter.penalize(2000);
		const t: number[] = [];
		void limiter.acquire(1).then(() => t.push(clock.now()));
		await clock.runAll();
		expect(t).toEqual([2000]);
	});

	it('serves waiters in FIFO order', async () => {
		const clock = new FakeClock();
		const limiter = new RateLimiter({ rpm: 60, tpm: Infinity }, clock);
		const order: number[] = [];
		const all = [0, 1, 2, 3].map((i) => limiter.acquire(1).then(() => order.push(i)));
		await clock.runAll();
		await Promise.all(all);
		expect(order).toEqual([0, 1, 2, 3]);
	});

	it('rejects an aborted waiter without blocking the others', async () => {
		const clock = new FakeClock();
		const limiter = new RateLimiter({ rpm: 60, tpm: Infinity }, clock);
		await limiter.acquire(1);
		const ac = new AbortController();
		const aborted = limiter.acquire(1, ac.signal);
		const next = limiter.acquire(1);
		ac.abort(new Error('stop'));
		await expect(aborted).rejects.toThrow('stop');
		await clock.runAll();
		await expect(next).resolves.toBeUndefined();
	});

	it('validates limits at construction', () => {
		expect(() => new RateLimiter({ rpm: 0, tpm: 1 }, new FakeClock())).toThrow('Expected `rpm`');
		expect(() => new RateLimiter({ rpm: 1, tpm: -5 }, new FakeClock())).toThrow('Expected `tpm`');
	});

	it('shares one limiter per credential + endpoint + model in the process', () => {
		resetSharedLimiters();
		const clock = new FakeClock();
		const id = { provider: 'openai', baseUrl: 'http://x/v1', apiKey: 'k1', model: 'm' };
		const a = sharedLimiter(id, { rpm: 100, tpm: 1000 }, clock);
		const b = sharedLimiter(id, { rpm: 200, tpm: 1000 }, clock);
		expect(b).toBe(a);
		expect(a.current.rpm).toBe(200);
		expect(sharedLimiter({ ...id, apiKey: 'k2' }, { rpm: 100, tpm: 1000 }, clock)).not.toBe(a);
		expect(sharedLimiter({ ...id, model: 'n' }, { rpm: 100, tpm: 1000 }, clock)).not.toBe(a);
	});
});
