import { describe, expect, it } from 'vitest';

import { CEILING_MS, type RateLimits } from '../../../../core/call/limiter/policy';
import { limitKey, MemoryLimitStore, type LimitStore } from '../../../../core/call/limiter/store';
import { StoreLimiter } from '../../../../core/call/limiter/store-limiter';
import {
	LimitStoreUnavailableError,
	type StoreLimiterEvent,
} from '../../../../core/call/limiter/store-outage';
import { FakeClock } from '../../../helpers/fake-clock';

const limits: RateLimits = { rpm: 600, tpm: Infinity, burstSeconds: 1 }; // 10/s, burst 10

/** A store that can be switched off, like Redis going away. */
class FlakyStore implements LimitStore {
	down = false;
	calls = 0;
	constructor(private readonly inner: LimitStore) {}
	private check() {
		this.calls++;
		if (this.down) return Promise.reject(new Error('connect ECONNREFUSED 127.0.0.1:6390'));
		return undefined;
	}
	take(key: string, l: RateLimits, n: number) {
		return this.check() ?? this.inner.take(key, l, n);
	}
	adjust(key: string, l: RateLimits, n: number) {
		return this.check() ?? this.inner.adjust(key, l, n);
	}
	cut(key: string, l: RateLimits, oks: number) {
		return this.check() ?? this.inner.cut(key, l, oks);
	}
	rateLimited(key: string, l: RateLimits, oks: number) {
		return this.check() ?? this.inner.rateLimited(key, l, oks);
	}
	grow(key: string, l: RateLimits, oks: number) {
		return this.check() ?? this.inner.grow(key, l, oks);
	}
	adaptive(key: string) {
		return this.inner.adaptive(key);
	}
}

async function releaseTimes(
	clock: FakeClock,
	limiters: StoreLimiter[],
	perLimiter: number,
): Promise<number[]> {
	const times: number[] = [];
	const all = limiters.flatMap((l) =>
		Array.from({ length: perLimiter }, () => l.acquire(1).then(() => times.push(clock.now()))),
	);
	await clock.runAll();
	await Promise.all(all);
	return times.sort((a, b) => a - b);
}

function maxInWindow(times: number[], windowMs: number): number {
	let max = 0;
	for (let i = 0, j = 0; i < times.length; i++) {
		while (times[i] - times[j] >= windowMs) j++;
		max = Math.max(max, i - j + 1);
	}
	return max;
}

describe('limitKey', () => {
	it('is a hash: the API key never appears in it, and each part changes it', () => {
		const base = { provider: 'openai', baseUrl: 'http://x/v1', apiKey: 'sk-secret', model: 'm' };
		const k = limitKey(base);
		expect(k).toMatch(/^[0-9a-f]{64}$/);
		expect(k).not.toContain('sk-secret');
		expect(limitKey({ ...base, apiKey: 'sk-other' })).not.toBe(k);
		expect(limitKey({ ...base, model: 'm2' })).not.toBe(k);
		expect(limitKey({ ...base, baseUrl: 'http://y/v1' })).not.toBe(k);
		expect(limitKey({ ...base })).toBe(k);
	});
});

describe('StoreLimiter on a shared store', () => {
	it('three processes on one store together never exceed the limit, and use all of it', async () => {
		const clock = new FakeClock();
		const store = new MemoryLimitStore(clock);
		const make = () =>
			new StoreLimiter({
				store,
				key: 'k',
				limits,
				clock,
				onUnavailable: { mode: 'stop' },
			});
		const times = await releaseTimes(clock, [make(), make(), make()], 200);
		expect(times).toHaveLength(600);
		// 10/s with a burst of 10: any 10 s window holds at most 100 + 10
		expect(maxInWindow(times, 10_000)).toBeLessThanOrEqual(110);
		// 600 at 10/s after a burst of 10 take 59 s: nothing of the limit was left unused
		expect(times[times.length - 1]).toBe(59_000);
	});

	it('a corrected token estimate is given back to every process', async () => {
		const clock = new FakeClock();
		const store = new MemoryLimitStore(clock);
		const tl: RateLimits = { rpm: 1e9, tpm: 6000, burstSeconds: 1 }; // 100 tokens/s, burst 100
		const opts = { store, key: 'k', limits: tl, clock, onUnavailable: { mode: 'stop' as const } };
		const a = new StoreLimiter(opts);
		const b = new StoreLimiter(opts);
		await a.acquire(100); // estimate 100, real usage 20
		a.correct(100, 20);
		await clock.advance(0);
		let at = -1;
		const p = b.acquire(80).then(() => (at = clock.now()));
		await clock.runAll();
		await p;
		expect(at).toBe(0);
	});

	it('an aborted waiter leaves the queue at once', async () => {
		const clock = new FakeClock();
		const store = new MemoryLimitStore(clock);
		const l = new StoreLimiter({ store, key: 'k', limits, clock, onUnavailable: { mode: 'stop' } });
		await Promise.all(Array.from({ length: 10 }, () => l.acquire(1))); // bucket empty
		const ctl = new AbortController();
		const p = l.acquire(1, ctl.signal);
		const q = l.acquire(1);
		await clock.advance(0);
		ctl.abort(new Error('stop'));
		await expect(p).rejects.toThrow('stop');
		expect(l.waiting).toBe(1);
		await clock.runAll();
		await q;
	});
});

describe('StoreLimiter: the adaptive state is shared', () => {
	it('a cluster of 429s in one process slows every process; an isolated 429 slows nobody', async () => {
		const clock = new FakeClock(0);
		const store = new MemoryLimitStore(clock);
		const opts = { store, key: 'k', limits, clock, onUnavailable: { mode: 'stop' as const } };
		const a = new StoreLimiter(opts);
		const b = new StoreLimiter(opts);
		await b.acquire(1);
		for (let i = 0; i < 10; i++) a.observe({ outcome: 'ok' });
		expect(a.observe({ outcome: 'rate_limited' })).toBe('isolated');
		expect(a.observe({ outcome: 'rate_limited', rateLimit: { remainingRequests: 12 } })).toBe(
			'isolated',
		);
		expect(a.observe({ outcome: 'rate_limited', rateLimit: { remainingRequests: 0 } })).toBe(
			'cluster',
		);
		await clock.advance(0);
		expect(b.report()).toEqual({
			settledRpm: 300,
			configuredRpm: 600,
			lowestConfiguredRpm: 600,
			sharedWith: 0,
			sharedThrough: 'redis',
			cuts: 1,
		});
		// b's next request waits for the emptied bucket at the halved rate (5/s)
		let at = -1;
		const p = b.acquire(1).then(() => (at = clock.now()));
		await clock.runAll();
		await p;
		expect(at).toBe(200);
		// successes in b let the share grow back for everyone (the store hears of them at most
		// every 250 ms per process and grows with ≥ 2 of them, at most once a second)
		await clock.advance(1000);
		b.observe({ outcome: 'ok' });
		b.observe({ outcome: 'ok' });
		await clock.advance(0);
		expect(a.report().settledRpm).toBe(300);
		await clock.advance(250);
		b.observe({ outcome: 'ok' });
		await clock.advance(0);
		expect(a.report().settledRpm).toBe(450);
	});
});

describe('StoreLimiter: ceilings as in the in-process controller', () => {
	it('runs with different limits on one key share the lowest; it lifts once the lower run is gone', async () => {
		const clock = new FakeClock(0);
		const store = new MemoryLimitStore(clock);
		const base = { store, key: 'k', clock, onUnavailable: { mode: 'stop' as const } };
		const low = new StoreLimiter({ ...base, limits: { rpm: 300, tpm: Infinity, burstSeconds: 1 } });
		const high = new StoreLimiter({ ...base, limits }); // 600 RPM
		await low.acquire(1);
		// at 300 RPM (5/s, burst 5) the high run finds 4 left, then one every 200 ms
		const times = await releaseTimes(clock, [high], 6);
		expect(times).toEqual([0, 0, 0, 0, 200, 400]);
		expect(high.report()).toEqual({
			settledRpm: 300,
			configuredRpm: 600,
			lowestConfiguredRpm: 300,
			sharedWith: 0,
			sharedThrough: 'redis',
			cuts: 0,
		});
		// the low run ended: CEILING_MS after its last call the high run gets its own limit
		await clock.advance(CEILING_MS + 1);
		await high.acquire(1);
		expect(high.report().lowestConfiguredRpm).toBe(600);
		const later = await releaseTimes(clock, [high], 12);
		// refilled at the ceiling the call found, as the Redis script does: full at its 600-RPM
		// size (10, one just taken), then 10/s
		expect(later.map((t) => t - later[0])).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 100, 200, 300]);
	});

	it('a limit the provider announced to one process lowers every process, and the report names it', async () => {
		const clock = new FakeClock(0);
		const store = new MemoryLimitStore(clock);
		const opts = { store, key: 'k', limits, clock, onUnavailable: { mode: 'stop' as const } };
		const a = new StoreLimiter(opts);
		const b = new StoreLimiter(opts);
		a.observe({ outcome: 'ok', rateLimit: { limitRequests: 300, remainingRequests: 299 } });
		await a.acquire(1); // carries what it learned to the store
		const times = await releaseTimes(clock, [b], 6);
		expect(times).toEqual([0, 0, 0, 0, 200, 400]);
		expect(b.report()).toEqual({
			settledRpm: 300,
			configuredRpm: 600,
			lowestConfiguredRpm: 600,
			sharedWith: 0,
			sharedThrough: 'redis',
			learnedRpm: 300,
			cuts: 0,
		});
	});
});

describe('StoreLimiter when the store is unreachable', () => {
	it('falls back to this process alone at the stated share, reports it, and returns to the store', async () => {
		const clock = new FakeClock();
		const flaky = new FlakyStore(new MemoryLimitStore(clock));
		const events: StoreLimiterEvent[] = [];
		const l = new StoreLimiter({
			store: flaky,
			key: 'k',
			limits,
			clock,
			onUnavailable: { mode: 'local', share: 0.25 },
			retryStoreMs: 5000,
			onEvent: (e) => events.push(e),
		});
		flaky.down = true;
		// 40 requests on the fallback: 2.5/s with a burst of 2.5 (rounded to what the bucket allows)
		const times = await releaseTimes(clock, [l], 40);
		expect(events[0]).toEqual({
			type: 'unavailable',
			message: 'connect ECONNREFUSED 127.0.0.1:6390',
			fallback: 'local',
		});
		expect(l.degraded).toBe(true);
		// never more than a quarter of the limit: 25 per 10 s + the burst
		expect(maxInWindow(times, 10_000)).toBeLessThanOrEqual(25 + 3);
		flaky.down = false;
		await clock.advance(5000);
		const p = l.acquire(1);
		await clock.runAll();
		await p;
		expect(l.degraded).toBe(false);
		expect(events[1]).toMatchObject({ type: 'recovered' });
		const report = l.finish();
		expect(report.outages).toBe(1);
		expect(report.fallbackRequests).toBe(40);
		expect(report.fallbackMs).toBeGreaterThan(0);
	});

	it('the fallback is the flow controller of this process at the share: a cluster of 429s halves it too', async () => {
		const clock = new FakeClock(0);
		const flaky = new FlakyStore(new MemoryLimitStore(clock));
		const l = new StoreLimiter({
			store: flaky,
			key: 'k',
			limits,
			clock,
			onUnavailable: { mode: 'local', share: 0.5 }, // 300 RPM: 5/s, burst 5
			retryStoreMs: 60_000,
		});
		flaky.down = true;
		await l.acquire(1);
		expect(l.degraded).toBe(true);
		expect(l.observe({ outcome: 'rate_limited', rateLimit: { remainingRequests: 0 } })).toBe(
			'cluster',
		);
		// 150 RPM now, the request bucket emptied: one every 400 ms
		const times = await releaseTimes(clock, [l], 4);
		expect(times).toEqual([400, 800, 1200, 1600]);
		expect(l.finish().fallbackRequests).toBe(5);
	});

	it('stops: every waiter and every later acquire rejects with a clear error', async () => {
		const clock = new FakeClock();
		const flaky = new FlakyStore(new MemoryLimitStore(clock));
		const events: StoreLimiterEvent[] = [];
		const l = new StoreLimiter({
			store: flaky,
			key: 'k',
			limits,
			clock,
			onUnavailable: { mode: 'stop' },
			onEvent: (e) => events.push(e),
		});
		flaky.down = true;
		const waits = [l.acquire(1), l.acquire(1), l.acquire(1)];
		for (const w of waits) {
			await expect(w).rejects.toBeInstanceOf(LimitStoreUnavailableError);
		}
		await expect(l.acquire(1)).rejects.toThrow(
			'The shared limit store is unreachable (connect ECONNREFUSED 127.0.0.1:6390)',
		);
		expect(events).toEqual([
			{ type: 'unavailable', message: 'connect ECONNREFUSED 127.0.0.1:6390', fallback: 'stop' },
		]);
	});

	it('rejects a fallback share outside (0, 1]', () => {
		const clock = new FakeClock();
		const store = new MemoryLimitStore(clock);
		expect(
			() =>
				new StoreLimiter({
					store,
					key: 'k',
					limits,
					clock,
					onUnavailable: { mode: 'local', share: 0 },
				}),
		).toThrow('Expected `share` to be a number in (0, 1], got 0');
	});
});
