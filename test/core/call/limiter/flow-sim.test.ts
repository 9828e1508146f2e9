/**
 * The flow controller against a provider whose real limit is lower than the configured one
 *, on a fake clock: the whole runner (concurrency gate, retries, AIMD) against the
 * sandbox's own account limiter (continuously refilled bucket, 1 s of burst), latency 50–300 ms,
 * 2,000 items — the bench's `too-high` scenarios without the network.
 */
import OpenAI from 'openai';
import { describe, expect, it } from 'vitest';

import { privateFlow } from '../../../../core/call/limiter/in-process';
import { MemoryLimitStore } from '../../../../core/call/limiter/store';
import { StoreLimiter } from '../../../../core/call/limiter/store-limiter';
import type { ChatResponse, Provider } from '../../../../core/call/providers/types';
import { BatchRunner, type Outcome, type RunItem } from '../../../../core/call/runner';
import { seededRandom } from '../../../../core/random';
import { AccountLimits } from '../../../../sandbox/limiter';
import { FakeClock } from '../../../helpers/fake-clock';

interface SimResult {
	items: number;
	succeeded: number;
	requests: number;
	limited: number;
	share429: number;
	/** Successful answers per minute ÷ the real limit, first request → last answer. */
	util: number;
	settledRpm: number;
}

function rateHeaders(limits: AccountLimits): Record<string, string> {
	const r = limits.state().requests!;
	return {
		'x-ratelimit-limit-requests': String(r.limit),
		'x-ratelimit-remaining-requests': String(r.remaining),
		'x-ratelimit-reset-requests': `${Math.ceil(r.resetMs)}ms`,
	};
}

async function simulate(o: {
	configuredRpm: number;
	realRpm: number;
	headers: boolean;
	items?: number;
	seed?: number;
	/** `store`: the limit shared through a store (StoreLimiter, the Redis path) kept in memory. */
	limiter?: 'process' | 'store';
}): Promise<SimResult> {
	const n = o.items ?? 2_000;
	const clock = new FakeClock(0, [0.5]);
	const rnd = seededRandom(o.seed ?? 7);
	const limits = new AccountLimits({
		rpm: o.realRpm,
		tpm: Infinity,
		burstSeconds: 1,
		now: () => clock.now(),
	});
	let requests = 0;
	let limited = 0;
	let first = Infinity;
	let last = 0;
	const provider: Provider = {
		name: 'openai',
		async complete(req, opts) {
			requests++;
			first = Math.min(first, clock.now());
			const adm = limits.admit(1);
			const headers: Record<string, string> = o.headers ? rateHeaders(limits) : {};
			if (!adm.ok) {
				limited++;
				await clock.sleep(5, opts.signal);
				last = Math.max(last, clock.now());
				throw OpenAI.APIError.generate(
					429,
					{ error: { message: 'Rate limit reached for requests', type: 'requests' } },
					undefined,
					new Headers({
						...headers,
						'retry-after': String(Math.max(1, Math.ceil(adm.retryAfterMs / 1000))),
						'retry-after-ms': String(Math.ceil(adm.retryAfterMs)),
					}),
				);
			}
			await clock.sleep(50 + rnd() * 250, opts.signal);
			last = Math.max(last, clock.now());
			const res: ChatResponse = {
				text: `a ${req.prompt}`,
				finishReason: 'stop',
				usage: { inputTokens: 22, outputTokens: 22 },
				model: 'm',
			};
			if (o.headers) {
				const r = limits.state().requests!;
				res.rateLimit = {
					limitRequests: r.limit,
					remainingRequests: r.remaining,
					resetRequestsMs: r.resetMs,
				};
			}
			return res;
		},
	};
	const flow =
		o.limiter === 'store'
			? new StoreLimiter({
					store: new MemoryLimitStore(clock),
					key: 'k',
					limits: { rpm: o.configuredRpm, tpm: Infinity },
					clock,
					onUnavailable: { mode: 'stop' },
				})
			: privateFlow({ rpm: o.configuredRpm, tpm: Infinity }, clock);
	const runner = new BatchRunner({ provider, flow, clock, concurrency: 16, timeoutMs: 60_000 });
	const items: RunItem[] = Array.from({ length: n }, (_, i) => ({
		index: i,
		recordId: `r${i}`,
		request: { model: 'm', prompt: `p${i}`, maxTokens: 64 },
		inputTokens: 22,
		promptHash: `h${i}`,
	}));
	let done = false;
	const p = runner.run(items).finally(() => (done = true));
	while (!done) await clock.advance(50);

	const outcomes: Outcome[] = await p;
	const succeeded = outcomes.filter((x) => x.ok).length;
	return {
		items: n,
		succeeded,
		requests,
		limited,
		share429: limited / requests,
		util: ((succeeded / Math.max(1, last - first)) * 60_000) / o.realRpm,
		settledRpm: runner.stats.flow?.settledRpm ?? NaN,
	};
}

describe('flow control on a limit configured 2x too high (fake clock, 2,000 items)', () => {
	it('without rate-limit headers (AIMD alone): at most 5 % of requests answered 429, util >= 0.90', async () => {
		// (before the rate where 429s began was measured: 6.0 % answered 429)
		for (const seed of [7, 3]) {
			const r = await simulate({ configuredRpm: 2_400, realRpm: 1_200, headers: false, seed });
			expect(r.succeeded).toBe(r.items);
			expect(r.share429).toBeLessThanOrEqual(0.05);
			expect(r.util).toBeGreaterThanOrEqual(0.9);
			// settled just under the real limit, not at the configured one
			expect(r.settledRpm).toBeLessThan(1_500);
		}
	});

	it('shared through a store (the rule the Redis script runs): without headers at most 5 % 429, util >= 0.90', async () => {
		// (before the store ran the share rule of policy.ts — halving with a fixed 0.9 threshold, +5 % a
		// second above it — 5.5 % of requests were answered 429 here, seed 7; now 2.0 %, seed 3 1.6 %)
		for (const seed of [7, 3]) {
			const r = await simulate({
				configuredRpm: 2_400,
				realRpm: 1_200,
				headers: false,
				seed,
				limiter: 'store',
			});
			expect(r.succeeded).toBe(r.items);
			expect(r.share429).toBeLessThanOrEqual(0.05);
			expect(r.util).toBeGreaterThanOrEqual(0.9);
		}
	});

	it('with rate-limit headers: the announced limit, no 429 to speak of, util >= 0.95', async () => {
		const r = await simulate({ configuredRpm: 2_400, realRpm: 1_200, headers: true });
		expect(r.succeeded).toBe(r.items);
		expect(r.share429).toBeLessThanOrEqual(0.01);
		expect(r.util).toBeGreaterThanOrEqual(0.95);
	});

	it('configured right (clean): util >= 0.98, no 429', async () => {
		const r = await simulate({ configuredRpm: 1_200, realRpm: 1_200, headers: false });
		expect(r.succeeded).toBe(r.items);
		expect(r.limited).toBe(0);
		expect(r.util).toBeGreaterThanOrEqual(0.98);
	});
});
