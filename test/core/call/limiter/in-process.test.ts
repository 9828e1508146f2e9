import { describe, expect, it } from 'vitest';

import {
	FlowController,
	privateFlow,
	resetSharedFlow,
	sharedFlow,
	sharedFlowKeys,
	type FlowLease,
} from '../../../../core/call/limiter/in-process';
import { FakeClock } from '../../../helpers/fake-clock';

async function releaseTimes(
	clock: FakeClock,
	flow: FlowLease,
	n: number,
	tokens = 1,
): Promise<number[]> {
	const times: number[] = [];
	const all = Array.from({ length: n }, () =>
		flow.acquire(tokens).then(() => times.push(clock.now())),
	);
	await clock.runAll();
	await Promise.all(all);
	return times;
}

function maxInWindow(times: number[], windowMs: number): number {
	let best = 0;
	for (let i = 0, j = 0; i < times.length; i++) {
		while (times[i] - times[j] >= windowMs) j++;
		best = Math.max(best, i - j + 1);
	}
	return best;
}

describe('FlowController: buckets', () => {
	it('never releases more than the RPM in any 60 s window (burst of 1 s)', async () => {
		const clock = new FakeClock();
		const flow = privateFlow({ rpm: 600, tpm: Infinity, burstSeconds: 1 }, clock);
		const times = await releaseTimes(clock, flow, 1500);
		expect(times).toHaveLength(1500);
		expect(maxInWindow(times, 60_000)).toBeLessThanOrEqual(600 + 10);
		expect(times[times.length - 1]).toBe(149_000);
	});

	it('releases half a second of traffic at once by default', async () => {
		const clock = new FakeClock();
		const flow = privateFlow({ rpm: 1200, tpm: Infinity }, clock); // 20/s, capacity 10
		expect(await releaseTimes(clock, flow, 12)).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 50, 100]);
	});

	it('paces by tokens when the token limit binds', async () => {
		const clock = new FakeClock();
		const flow = privateFlow({ rpm: 10_000, tpm: 60_000, burstSeconds: 1 }, clock);
		expect(await releaseTimes(clock, flow, 6, 500)).toEqual([0, 0, 500, 1000, 1500, 2000]);
	});

	it('corrects the token estimate with the reported usage', async () => {
		const clock = new FakeClock();
		const flow = privateFlow({ rpm: 10_000, tpm: 60_000, burstSeconds: 1 }, clock);
		await flow.acquire(1000);
		flow.correct(1000, 100);
		const t: number[] = [];
		void flow.acquire(900).then(() => t.push(clock.now()));
		await clock.advance(0);
		expect(t).toEqual([0]);
	});

	it('serves waiters in FIFO order', async () => {
		const clock = new FakeClock();
		const flow = privateFlow({ rpm: 60, tpm: Infinity }, clock);
		const order: number[] = [];
		const all = [0, 1, 2, 3].map((i) => flow.acquire(1).then(() => order.push(i)));
		await clock.runAll();
		await Promise.all(all);
		expect(order).toEqual([0, 1, 2, 3]);
	});

	it('an aborted waiter leaves the queue at once, not when it reaches the head', async () => {
		const clock = new FakeClock();
		const flow = privateFlow({ rpm: 60, tpm: Infinity }, clock); // 1/s
		await flow.acquire(1);
		const head = flow.acquire(1); // another execution's request, waiting 1 s
		const ac = new AbortController();
		let rejectedAt: number | undefined;
		const mine = flow.acquire(1, ac.signal).catch(() => (rejectedAt = clock.now()));
		expect(flow.controller.waiting).toBe(2);
		ac.abort(new Error('canceled'));
		await clock.advance(0);
		expect(rejectedAt).toBe(0);
		expect(flow.controller.waiting).toBe(1);
		await clock.runAll();
		await head;
		await mine;
		expect(flow.controller.waiting).toBe(0);
	});

	it('validates limits', () => {
		const clock = new FakeClock();
		expect(() => privateFlow({ rpm: 0, tpm: 1 }, clock)).toThrow('Expected `rpm`');
		expect(() => privateFlow({ rpm: 1, tpm: -5 }, clock)).toThrow('Expected `tpm`');
	});
});

describe('FlowController: adaptation', () => {
	it('an isolated 429 slows nobody; a cluster cuts the rate in half (AIMD)', () => {
		const clock = new FakeClock();
		const flow = privateFlow({ rpm: 600, tpm: Infinity }, clock);
		for (let i = 0; i < 20; i++) flow.observe({ outcome: 'ok' });
		expect(flow.observe({ outcome: 'rate_limited' })).toBe('isolated');
		expect(flow.report().settledRpm).toBe(600);
		// budget left, per the headers: isolated however many
		for (let i = 0; i < 5; i++)
			expect(flow.observe({ outcome: 'rate_limited', rateLimit: { remainingRequests: 7 } })).toBe(
				'isolated',
			);
		expect(flow.report().settledRpm).toBe(600);
		// no headers, 429s becoming a large share of the answers: a cluster
		let verdict;
		for (let i = 0; i < 4; i++) verdict = flow.observe({ outcome: 'rate_limited' });
		expect(verdict).toBe('cluster');
		expect(flow.report()).toMatchObject({ settledRpm: 300, cuts: 1 });
	});

	it('a 429 saying the budget is spent is a cluster on its own', () => {
		const clock = new FakeClock();
		const flow = privateFlow({ rpm: 600, tpm: Infinity }, clock);
		expect(flow.observe({ outcome: 'rate_limited', rateLimit: { remainingRequests: 0 } })).toBe(
			'cluster',
		);
		expect(flow.report().settledRpm).toBe(300);
	});

	it('cuts at most once a second, then slow start and a probe that speeds up back to the ceiling', async () => {
		const clock = new FakeClock();
		const flow = privateFlow({ rpm: 1000, tpm: Infinity }, clock);
		const spent = { remainingRequests: 0 };
		flow.observe({ outcome: 'rate_limited', rateLimit: spent });
		flow.observe({ outcome: 'rate_limited', rateLimit: spent }); // same second: no second cut
		expect(flow.report().settledRpm).toBe(500);
		const settled: number[] = [];
		for (let s = 0; s < 14; s++) {
			await clock.advance(1000);
			flow.observe({ outcome: 'ok' });
			flow.observe({ outcome: 'ok' });
			settled.push(Math.round(flow.report().settledRpm));
		}
		// slow start 500 -> 750 -> 900 (threshold 0.9 of where it was cut), then a probe of 1 % of
		// the threshold a second for ten seconds, twice that after, up to the ceiling
		expect(settled).toEqual([
			750, 900, 909, 918, 927, 936, 945, 954, 963, 972, 981, 990, 1000, 1000,
		]);
	});

	it('slow start stops just under the rate the provider answered once 429s began, not where they were noticed', async () => {
		const clock = new FakeClock();
		const flow = privateFlow({ rpm: 2400, tpm: Infinity }, clock);
		// right answers at 20 a second (the provider's real 1,200 RPM)...
		for (let t = 0; t < 40; t++) {
			await clock.advance(50);
			flow.observe({ outcome: 'ok' });
		}
		// ...then its burst is spent: 429s begin, 4 a second beside the 20 right answers, until
		// they are a cluster
		let verdict;
		for (let t = 1; t <= 100 && verdict !== 'cluster'; t++) {
			await clock.advance(50);
			verdict = flow.observe({ outcome: 'ok' });
			if (t % 5 === 0) verdict = flow.observe({ outcome: 'rate_limited' });
		}
		expect(verdict).toBe('cluster');
		// TCP's rule would halve to 1,200 RPM and slow-start back to 0.9 x 2,400 = 2,160; the
		// threshold is 0.95 x the measured 1,200 instead, and the cut goes no higher
		const after = flow.report().settledRpm;
		expect(after).toBeGreaterThanOrEqual(1_100);
		expect(after).toBeLessThanOrEqual(1_160);
		await clock.advance(1000);
		flow.observe({ outcome: 'ok' });
		flow.observe({ outcome: 'ok' });
		// from there a probe of 1 % a second, not 1.5x
		expect(flow.report().settledRpm).toBeCloseTo(after * 1.01, 0);
	});

	it('learns the real limit from the rate-limit headers and paces at it', async () => {
		const clock = new FakeClock();
		const flow = privateFlow({ rpm: 2400, tpm: Infinity, burstSeconds: 1 }, clock);
		flow.observe({ outcome: 'ok', rateLimit: { limitRequests: 1200, remainingRequests: 19 } });
		expect(flow.report()).toMatchObject({
			settledRpm: 1200,
			configuredRpm: 2400,
			learnedRpm: 1200,
		});
		const times = await releaseTimes(clock, flow, 200);
		expect(maxInWindow(times, 1000)).toBeLessThanOrEqual(20 + 20);
		expect(times.at(-1)).toBeGreaterThanOrEqual(8_900);
	});

	it('keeps its state as numbers only (what a Redis store would hold)', () => {
		const clock = new FakeClock();
		const c = new FlowController(clock);
		const lease = c.lease({ rpm: 100, tpm: 1000 });
		lease.observe({ outcome: 'ok', rateLimit: { limitRequests: 90 } });
		const state = c.state;
		expect(Object.values(state).every((v) => typeof v === 'number')).toBe(true);
		expect(state).toMatchObject({ ceilingRpm: 100, ceilingTpm: 1000, learnedRpm: 90, share: 1 });
	});
});

describe('sharedFlow', () => {
	const id = { provider: 'openai', baseUrl: 'http://x/v1', apiKey: 'k1', model: 'm' };

	it('two workflows with different limits on one credential + model share the lowest', () => {
		resetSharedFlow();
		const clock = new FakeClock();
		const a = sharedFlow(id, { rpm: 200, tpm: 1000 }, clock);
		const b = sharedFlow(id, { rpm: 100, tpm: 1000 }, clock);
		expect(b.controller).toBe(a.controller);
		expect(a.report()).toMatchObject({
			settledRpm: 100,
			configuredRpm: 200,
			lowestConfiguredRpm: 100,
			sharedWith: 1,
		});
		// the last writer does not retune the other: a third run asking for more changes nothing
		const c = sharedFlow(id, { rpm: 500, tpm: 1000 }, clock);
		expect(c.report().settledRpm).toBe(100);
		b.release();
		expect(a.report()).toMatchObject({ settledRpm: 200, lowestConfiguredRpm: 200 });
		expect(sharedFlow({ ...id, apiKey: 'k2' }, { rpm: 1, tpm: 1 }, clock).controller).not.toBe(
			a.controller,
		);
		expect(sharedFlow({ ...id, model: 'n' }, { rpm: 1, tpm: 1 }, clock).controller).not.toBe(
			a.controller,
		);
	});

	it('evicts keys idle for 10 minutes', async () => {
		resetSharedFlow();
		const clock = new FakeClock();
		const a = sharedFlow(id, { rpm: 100, tpm: 1000 }, clock);
		const other = sharedFlow({ ...id, model: 'n' }, { rpm: 100, tpm: 1000 }, clock);
		a.release();
		expect(sharedFlowKeys()).toBe(2);
		await clock.advance(10 * 60_000);
		sharedFlow({ ...id, model: 'z' }, { rpm: 100, tpm: 1000 }, clock).release();
		// the released key went; the one still leased stays
		expect(sharedFlowKeys()).toBe(2);
		expect(sharedFlow({ ...id, model: 'n' }, { rpm: 100, tpm: 1000 }, clock).controller).toBe(
			other.controller,
		);
	});
});
