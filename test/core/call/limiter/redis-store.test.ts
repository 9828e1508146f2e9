import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import { CEILING_MS, type RateLimits } from '../../../../core/call/limiter/policy';
import { MemoryLimitStore, type StoreLimits } from '../../../../core/call/limiter/store';
import { StoreLimiter } from '../../../../core/call/limiter/store-limiter';
import type { StoreLimiterEvent } from '../../../../core/call/limiter/store-outage';
import {
	createRedisClient,
	openRedis,
	redisConfigFromCredential,
	type RedisConfig,
} from '../../../../core/call/limiter/redis-connection';
import { RedisLimitStore } from '../../../../core/call/limiter/redis-store';
import { seededRandom } from '../../../../core/random';
import { FakeClock } from '../../../helpers/fake-clock';
import {
	findRedisServer,
	killRedis,
	restartRedis,
	skipWithoutRedis,
	startRedis,
	stopRedis,
	type TestRedis,
} from '../../../helpers/redis';

const limits: RateLimits = { rpm: 600, tpm: 60_000, burstSeconds: 1 }; // 10/s burst 10; 1000 tok/s burst 1000

let redis: TestRedis;
let cfg: RedisConfig;

beforeAll(async () => {
	if (!findRedisServer()) return; // each test skips itself (skipWithoutRedis)
	redis = await startRedis({ password: 'limit-test-password' });
	cfg = {
		host: redis.host,
		port: redis.port,
		password: redis.password,
		database: 3,
		tls: false,
	};
});

afterAll(async () => {
	await stopRedis(redis);
});
beforeEach(skipWithoutRedis);

async function withClients<T>(
	n: number,
	fn: (clients: ReturnType<typeof createRedisClient>[]) => Promise<T>,
): Promise<T> {
	const clients = Array.from({ length: n }, () => createRedisClient(cfg));
	try {
		await Promise.all(clients.map((c) => c.connect()));
		return await fn(clients);
	} finally {
		for (const c of clients) c.disconnect();
	}
}

let keyCounter = 0;
const freshKey = () => `test-${process.pid}-${keyCounter++}`;

describe('RedisLimitStore (real redis-server, injected clock)', () => {
	it('gives exactly the bucket to many clients asking at the same instant (atomic)', async () => {
		const clock = new FakeClock(1_000_000);
		const key = freshKey();
		await withClients(4, async (clients) => {
			const stores = clients.map((c) => new RedisLimitStore(c, { clock }));
			const waits = await Promise.all(
				Array.from({ length: 200 }, (_, i) => stores[i % 4].take(key, limits, 1)),
			);
			expect(waits.filter((w) => w === 0)).toHaveLength(10);
			// the rest are told the exact wait for the next request: 100 ms at 10/s
			expect(new Set(waits.filter((w) => w > 0))).toEqual(new Set([100]));
		});
	});

	it('refills continuously with the injected clock, like the in-process bucket', async () => {
		const clock = new FakeClock(5_000);
		const key = freshKey();
		await withClients(1, async ([c]) => {
			const store = new RedisLimitStore(c, { clock });
			for (let i = 0; i < 10; i++) expect(await store.take(key, limits, 1)).toBe(0);
			expect(await store.take(key, limits, 1)).toBe(100);
			await clock.advance(250);
			expect(await store.take(key, limits, 1)).toBe(0);
			expect(await store.take(key, limits, 1)).toBe(0);
			expect(await store.take(key, limits, 1)).toBe(50);
		});
	});

	it('weights by tokens: a big request waits for the token bucket, a correction gives tokens back', async () => {
		const clock = new FakeClock(0);
		const key = freshKey();
		await withClients(2, async ([a, b]) => {
			const sa = new RedisLimitStore(a, { clock });
			const sb = new RedisLimitStore(b, { clock });
			expect(await sa.take(key, limits, 900)).toBe(0);
			expect(await sb.take(key, limits, 500)).toBe(400); // 400 tokens missing at 1/ms
			await sa.adjust(key, limits, 700); // the real usage was 200
			expect(await sb.take(key, limits, 500)).toBe(0);
		});
	});

	it('keeps only a hash of the identity, and the key expires when idle', async () => {
		const key = freshKey();
		await withClients(1, async ([c]) => {
			const store = new RedisLimitStore(c, { idleTtlMs: 60_000 });
			expect(await store.take(key, limits, 1)).toBe(0); // Redis's own clock
			const fields = await c.hgetall(`llm-batch:limit:${key}`);
			expect(Object.keys(fields).sort()).toEqual([
				'c',
				'cr',
				'cra',
				'ct',
				'cta',
				'ea',
				'eo',
				'f',
				'lc',
				'lg',
				'lr',
				'lt',
				'og',
				'ot',
				'ps',
				'r',
				'ss',
				't',
				'ts',
			]);
			// numbers only: no identity, no secret
			for (const v of Object.values(fields)) expect(Number.isNaN(Number(v))).toBe(false);
			const ttl = await c.pttl(`llm-batch:limit:${key}`);
			expect(ttl).toBeGreaterThan(0);
			expect(ttl).toBeLessThanOrEqual(60_000);
		});
	});
});

describe('shared adaptive state (real redis-server, injected clock)', () => {
	it('a cluster of 429s reported by one client halves the rate every client is admitted, once a second at most', async () => {
		const clock = new FakeClock(0);
		const key = freshKey();
		await withClients(2, async ([a, b]) => {
			const sa = new RedisLimitStore(a, { clock });
			const sb = new RedisLimitStore(b, { clock });
			expect(await sb.take(key, limits, 1)).toBe(0);
			await sa.cut(key, limits, 0);
			await sb.cut(key, limits, 0); // the same cluster seen by another worker: no second cut
			expect(sa.adaptive(key)).toEqual({ share: 0.5, cuts: 1 });
			// the request bucket is empty and refills at 5/s instead of 10/s
			expect(await sb.take(key, limits, 1)).toBe(200);
			expect(sb.adaptive(key)).toEqual({ share: 0.5, cuts: 1 });
			await clock.advance(1000);
			await sb.cut(key, limits, 0);
			expect(sb.adaptive(key)).toEqual({ share: 0.25, cuts: 2 });
		});
	});

	it('the lowest configured limit and a limit the provider announced are shared; a gone run’s ceiling lapses', async () => {
		const clock = new FakeClock(0);
		const key = freshKey();
		await withClients(2, async ([a, b]) => {
			const sa = new RedisLimitStore(a, { clock });
			const sb = new RedisLimitStore(b, { clock });
			expect(await sa.take(key, { ...limits, rpm: 300 }, 1)).toBe(0); // 5/s, burst 5
			for (let i = 0; i < 4; i++) expect(await sb.take(key, limits, 1)).toBe(0);
			expect(await sb.take(key, limits, 1)).toBe(200);
			expect(sb.ceilings(key)).toEqual({ ceilingRpm: 300, learnedRpm: 0 });
			// the 300-RPM run made no call for CEILING_MS: its ceiling lapses
			await clock.advance(CEILING_MS + 1);
			expect(await sb.take(key, limits, 1)).toBe(0);
			expect(sb.ceilings(key)).toEqual({ ceilingRpm: 600, learnedRpm: 0 });
			// 120 RPM announced by the provider to one client holds for the other (burst 2)
			expect(await sa.take(key, { ...limits, learnedRpm: 120 }, 1)).toBe(0);
			expect(await sb.take(key, limits, 1)).toBe(0);
			expect(await sb.take(key, limits, 1)).toBe(500);
			expect(sb.ceilings(key)).toEqual({ ceilingRpm: 600, learnedRpm: 120 });
		});
	});

	it('successes grow the share back: slow start to the threshold, then the probe', async () => {
		const clock = new FakeClock(0);
		const key = freshKey();
		await withClients(1, async ([c]) => {
			const store = new RedisLimitStore(c, { clock });
			await store.cut(key, limits, 0); // share 0.5, threshold 0.9 (no episode measured)
			const shares: number[] = [];
			await clock.advance(1000);
			await store.grow(key, limits, 1); // one right answer is not evidence enough
			shares.push(store.adaptive(key).share);
			for (let i = 0; i < 4; i++) {
				await clock.advance(1000);
				await store.grow(key, limits, 2);
				shares.push(store.adaptive(key).share);
			}
			expect(shares).toEqual([0.5, 0.75, 0.9, 0.909, 0.918]);
		});
	});

	it('runs the share rule of policy.ts: the same sequence of answers gives the same shares as MemoryLimitStore', async () => {
		// Several processes' reports in a random order (seeded): 429s alone and in clusters,
		// right answers at the provider's rate during an episode (the measured threshold),
		// the probe above it. Each op goes to the Lua script and to the in-memory store
		// (policy.ts); their shares and cuts must agree after every one.
		const rnd = seededRandom(11);
		for (const rpm of [600, 0]) {
			const clock = new FakeClock(0);
			const key = freshKey();
			const l = { ...limits, rpm: rpm || Infinity };
			const memory = new MemoryLimitStore(clock);
			await withClients(1, async ([c]) => {
				const redis = new RedisLimitStore(c, { clock });
				let cutsSeen = 0;
				const check = () => {
					const m = memory.adaptive(key);
					const r = redis.adaptive(key);
					expect(r.share).toBeCloseTo(m.share, 5);
					expect(r.cuts).toBe(m.cuts);
					cutsSeen = m.cuts;
				};
				const both = async (op: 'cut' | 'rateLimited' | 'grow', oks: number) => {
					await memory[op](key, l, oks);
					await redis[op](key, l, oks);
					check();
				};
				for (let episode = 0; episode < 8; episode++) {
					// calm: right answers for 2–20 s (slow start, then the probe and its doubling)
					const calmUntil = clock.now() + 2_000 + rnd() * 18_000;
					while (clock.now() < calmUntil) {
						await clock.advance(Math.floor(50 + rnd() * 250));
						await both('grow', Math.floor(rnd() * 5));
					}
					// an episode: a first 429, right answers at the provider's rate (~7/s, under the
					// 600-RPM ceiling, so the measured threshold binds), isolated 429s,
					// then a cluster (sometimes reported twice, by two processes)
					await both('rateLimited', Math.floor(rnd() * 3));
					const clusterAt = clock.now() + Math.floor(rnd() * 1_500);
					while (clock.now() < clusterAt) {
						await clock.advance(Math.floor(20 + rnd() * 100));
						await both(rnd() < 0.2 ? 'rateLimited' : 'grow', rnd() < 0.5 ? 1 : 0);
					}
					await both('cut', Math.floor(rnd() * 3));
					if (rnd() < 0.5) await both('cut', 1);
				}
				expect(cutsSeen).toBeGreaterThan(5);
			});
		}
	});
	it('runs the bucket operations of policy.ts: the same takes, corrections and cuts give the same waits as MemoryLimitStore', async () => {
		// Two callers with different ceilings, a learned limit, token-weighted takes, corrections
		// both ways and cuts, at random instants (seeded): every wait the Lua script names must be
		// the wait the in-memory store names.
		const rnd = seededRandom(5);
		const clock = new FakeClock(0);
		const key = freshKey();
		const memory = new MemoryLimitStore(clock);
		const callers: StoreLimits[] = [
			{ rpm: 600, tpm: 60_000, burstSeconds: 1 },
			{ rpm: 450, tpm: 90_000, learnedRpm: 0 },
		];
		await withClients(1, async ([c]) => {
			const redis = new RedisLimitStore(c, { clock });
			let taken = 0;
			for (let i = 0; i < 400; i++) {
				await clock.advance(Math.floor(rnd() * 300));
				const l = callers[i % 2];
				if (i === 150) callers[1] = { ...callers[1], learnedRpm: 300 };
				const r = rnd();
				if (r < 0.7) {
					const tokens = Math.floor(rnd() * 800);
					const [m, x] = [await memory.take(key, l, tokens), await redis.take(key, l, tokens)];
					expect(x).toBe(m);
					if (m === 0) taken++;
				} else if (r < 0.85) {
					const back = Math.floor(rnd() * 1_000) - 500;
					await memory.adjust(key, l, back);
					await redis.adjust(key, l, back);
				} else if (r < 0.88) {
					await memory.cut(key, l, 1);
					await redis.cut(key, l, 1);
				} else {
					await memory.grow(key, l, 3);
					await redis.grow(key, l, 3);
				}
				expect(redis.adaptive(key).share).toBeCloseTo(memory.adaptive(key).share, 5);
			}
			expect(taken).toBeGreaterThan(40);
		});
	});
});

describe('openRedis', () => {
	it('reports a wrong password as an authentication failure, without the password', async () => {
		const { error, release } = await openRedis({ ...cfg, password: 'wrong' });
		release();
		expect(error?.message).toMatch(
			new RegExp(
				`^authentication failed \\(WRONGPASS\\) at 127\\.0\\.0\\.1:${cfg.port}: check the user and password`,
			),
		);
	});

	it('reads the credential fields', () => {
		expect(
			redisConfigFromCredential({
				host: 'redis.internal',
				port: 6380,
				password: 'p',
				database: 2,
				tls: true,
			}),
		).toEqual({
			host: 'redis.internal',
			port: 6380,
			user: undefined,
			password: 'p',
			database: 2,
			tls: true,
		});
	});
});

describe('StoreLimiter on Redis through an outage', () => {
	it('falls back at the stated share while redis-server is down and returns to it when it is back', async () => {
		const clock = new FakeClock(0);
		const events: StoreLimiterEvent[] = [];
		const { client, release } = await openRedis(cfg);
		try {
			const limiter = new StoreLimiter({
				store: new RedisLimitStore(client),
				key: freshKey(),
				limits,
				clock,
				onUnavailable: { mode: 'local', share: 0.5 },
				retryStoreMs: 1000,
				onEvent: (e) => events.push(e),
			});
			await limiter.acquire(1);
			expect(limiter.degraded).toBe(false);

			await killRedis(redis);
			await waitUntil(() => client.status !== 'ready');
			await limiter.acquire(1); // served by the fallback
			expect(limiter.degraded).toBe(true);
			expect(events[0]).toMatchObject({ type: 'unavailable', fallback: 'local' });

			await restartRedis(redis);
			await waitUntil(() => client.status === 'ready');
			await clock.advance(1000);
			await limiter.acquire(1);
			expect(limiter.degraded).toBe(false);
			expect(events.map((e) => e.type)).toEqual(['unavailable', 'recovered']);
			expect(limiter.finish()).toMatchObject({ outages: 1, fallbackRequests: 1 });
		} finally {
			release();
		}
	});
});

async function waitUntil(check: () => boolean, ms = 15_000): Promise<void> {
	const until = Date.now() + ms;
	while (!check()) {
		if (Date.now() > until) throw new Error('condition not reached');
		await new Promise((r) => setTimeout(r, 20));
	}
}
