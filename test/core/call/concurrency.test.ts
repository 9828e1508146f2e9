import { describe, expect, it } from 'vitest';

import { ConcurrencyGate } from '../../../core/call/concurrency';

describe('ConcurrencyGate', () => {
	it('holds at most the limit, serves retries before new items, and lets an aborted waiter go at once', async () => {
		const g = new ConcurrencyGate(2, () => 0);
		await g.acquire();
		await g.acquire();
		const order: string[] = [];
		const fresh = g.acquire().then(() => order.push('new'));
		const retry = g.acquire(undefined, true).then(() => order.push('retry'));
		const ac = new AbortController();
		const gone = g.acquire(ac.signal).catch(() => order.push('aborted'));
		ac.abort();
		await gone;
		expect(order).toEqual(['aborted']);
		g.release();
		await retry;
		g.release();
		await fresh;
		expect(order).toEqual(['aborted', 'retry', 'new']);
		expect(g.active).toBe(2);
	});

	it('lowers the limit when latency rises well above the best seen, then recovers by one per healthy stretch', () => {
		let now = 0;
		const g = new ConcurrencyGate(16, () => now);
		for (let i = 0; i < 40; i++) g.observe(100, false);
		expect(g.limit).toBe(16);
		for (let i = 0; i < 40 && g.limit === 16; i++) {
			now += 10;
			g.observe(2_000, false);
		}
		expect(g.limit).toBe(12);
		// at most one cut per 2 s
		g.observe(2_000, false);
		expect(g.limit).toBe(12);
		now += 60_000;
		// (the average still carries the slow answers for a while: at most one more cut)
		for (let i = 0; i < 400; i++) {
			now += 10;
			g.observe(100, false);
		}
		expect(g.limit).toBe(16);
		expect(g.report().cuts).toBeLessThanOrEqual(2);
	});

	it('lowers the limit when provider failures cluster, not for scattered ones', () => {
		let now = 0;
		const g = new ConcurrencyGate(8, () => now);
		// 16 % failures (the incident profile's provider share), in bunches of two: no cut
		for (let i = 0; i < 400; i++) {
			now += 10;
			g.observe(100, i % 12 < 2);
		}
		expect(g.limit).toBe(8);
		let n = 0;
		while (g.limit === 8 && n < 50) {
			now += 10;
			g.observe(100, true);
			n++;
		}
		expect(g.limit).toBe(6);
		expect(n).toBeLessThanOrEqual(12);
	});
});
