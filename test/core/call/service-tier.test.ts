import OpenAI from 'openai';
import { describe, expect, it } from 'vitest';

import { CircuitBreaker } from '../../../core/call/breaker';
import { CostMeter } from '../../../core/call/budget';
import { modelPricing } from '../../../core/call/pricing';
import { classifyError } from '../../../core/call/classify';
import { privateFlow } from '../../../core/call/limiter/in-process';
import type { ChatRequest, ChatResponse, Provider } from '../../../core/call/providers/types';
import { BatchRunner, type RunItem, type RunnerOptions } from '../../../core/call/runner';
import type { RunEvent } from '../../../core/call/types';
import { drive, FakeClock } from '../../helpers/fake-clock';

/** What one call gets: an answer (at the tier it reports) or an error, after `delayMs`. */
type Script = (
	req: ChatRequest,
	call: number,
) => { answer: ChatResponse | Error; delayMs?: number };

interface Sent {
	prompt: string;
	tier: string | undefined;
	at: number;
	timeoutMs: number;
}

function answer(req: ChatRequest, tier: string): ChatResponse {
	return {
		text: `a ${req.prompt}`,
		finishReason: 'stop',
		usage: {
			inputTokens: 1_000_000,
			outputTokens: 100_000,
			...(tier === 'default' ? {} : { serviceTier: tier }),
		},
		model: req.model,
		serviceTier: tier,
	};
}

const unavailable = () =>
	OpenAI.APIError.generate(
		429,
		{
			error: {
				message: 'Resource Unavailable: not enough flex capacity',
				type: 'resource_unavailable',
				code: 'resource_unavailable',
			},
		},
		undefined,
		new Headers(),
	);

function provider(clock: FakeClock, script: Script) {
	const calls = new Map<string, number>();
	const sent: Sent[] = [];
	const p: Provider = {
		name: 'openai',
		async complete(req, opts) {
			const n = (calls.get(req.prompt) ?? 0) + 1;
			calls.set(req.prompt, n);
			sent.push({
				prompt: req.prompt,
				tier: req.serviceTier,
				at: clock.now(),
				timeoutMs: opts.timeoutMs,
			});
			const { answer: a, delayMs = 100 } = script(req, n);
			await clock.sleep(delayMs, opts.signal);
			if (a instanceof Error) throw a;
			return a;
		},
	};
	return { provider: p, sent };
}

function items(n: number, model = 'gpt-5-mini'): RunItem[] {
	return Array.from({ length: n }, (_, i) => ({
		index: i,
		recordId: `r${i}`,
		request: { model, prompt: `p${i}`, maxTokens: 100 },
		inputTokens: 10,
		promptHash: `h${i}`,
	}));
}

function runner(clock: FakeClock, opts: Partial<RunnerOptions> & { provider: Provider }) {
	return new BatchRunner({
		flow: privateFlow({ rpm: 60_000, tpm: Infinity }, clock),
		clock,
		concurrency: 4,
		timeoutMs: 10_000,
		meter: new CostMeter({ pricing: modelPricing() }),
		...opts,
	});
}

describe("flex's 429 resource_unavailable is a wait, not a failure", () => {
	it('is classified resource_unavailable (retryable), not rate_limited', () => {
		const e = classifyError(unavailable(), 'openai', 0);
		expect([e.code, e.retryable, e.status]).toEqual(['resource_unavailable', true, 429]);
		const plain = classifyError(
			OpenAI.APIError.generate(
				429,
				{ error: { code: 'rate_limit_exceeded' } },
				undefined,
				new Headers(),
			),
			'openai',
			0,
		);
		expect(plain.code).toBe('rate_limited');
	});

	it('the breaker does not count it, and a half-open probe answered with it closes the circuit (the provider is up)', () => {
		const clock = new FakeClock(0);
		expect(CircuitBreaker.counts('resource_unavailable')).toBe(false);
		const b = new CircuitBreaker({ minSamples: 2, minFailingItems: 1 }, clock);
		for (let i = 0; i < 50; i++) b.record('resource_unavailable', false, i);
		expect([b.state, b.failureShare]).toEqual(['closed', 0]);
		b.record('server_error', false, 1);
		b.record('server_error', false, 2);
		expect(b.state).toBe('open');
		b.record('resource_unavailable', true);
		expect(b.state).toBe('closed');
	});

	it('the same share of 5xx opens the breaker: the pattern below is harsher than its threshold', async () => {
		const clock = new FakeClock(0, [0.5]);
		const fp = provider(clock, (req, n) => ({
			answer:
				n <= 2
					? OpenAI.APIError.generate(500, { error: {} }, undefined, new Headers())
					: answer(req, 'flex'),
		}));
		const r = runner(clock, { provider: fp.provider, serviceTier: 'flex' });
		await drive(clock, r.run(items(30)));
		expect(r.stats.circuitOpenings).toBeGreaterThan(0);
	});

	it('two of every three flex requests unavailable: the breaker never opens, no attempt, retry or rate cut is spent, every item answers at flex', async () => {
		const clock = new FakeClock(0, [0.5]);
		const fp = provider(clock, (req, n) => ({
			answer: n <= 2 ? unavailable() : answer(req, 'flex'),
		}));
		const events: RunEvent[] = [];
		const r = runner(clock, {
			provider: fp.provider,
			serviceTier: 'flex',
			onEvent: (e) => events.push(e),
		});
		const outcomes = await drive(clock, r.run(items(30)));
		// Flex at gpt-5-mini's batch price: 1M input at $0.125 + 100k output at $1.00.
		expect(outcomes[7]).toEqual({
			index: 7,
			ok: true,
			result: {
				recordId: 'r7',
				output: 'a p7',
				text: 'a p7',
				model: 'gpt-5-mini',
				provider: 'openai',
				finishReason: 'stop',
				usage: { inputTokens: 1_000_000, outputTokens: 100_000, serviceTier: 'flex' },
				costUsd: 0.225,
				attempts: 1,
				latencyMs: 100,
				cached: false,
				promptHash: 'h7',
				completedAt: expect.any(String),
				serviceTier: 'flex',
			},
		});
		expect(outcomes.every((o) => o.ok && o.result.attempts === 1)).toBe(true);
		const s = r.stats;
		expect({
			succeeded: s.succeeded,
			failed: s.failed,
			failuresByCode: s.failuresByCode,
			retries: s.retries,
			rateLimited: s.rateLimited,
			capacityWaits: s.capacityWaits,
			circuitOpenings: s.circuitOpenings,
			cuts: s.flow?.cuts,
			answeredByTier: s.answeredByTier,
			costUsd: Math.round(s.costUsd * 1e6) / 1e6,
		}).toEqual({
			succeeded: 30,
			failed: 0,
			failuresByCode: {},
			retries: 0,
			rateLimited: 0,
			capacityWaits: 60,
			circuitOpenings: 0,
			cuts: 0,
			answeredByTier: { flex: 30 },
			costUsd: 6.75,
		});
		expect(fp.sent).toHaveLength(90);
		expect(events.filter((e) => e.type === 'circuit' || e.type === 'rate_limited')).toEqual([]);
		expect(events.filter((e) => e.type === 'retry')).toHaveLength(60);
	});

	it('waits back off like any retry (full jitter, doubling ceiling) and are capped: without a deadline the item ends resource_unavailable, none billed, no attempt used', async () => {
		const clock = new FakeClock(0, [0.5]);
		const fp = provider(clock, () => ({ answer: unavailable(), delayMs: 0 }));
		const r = runner(clock, {
			provider: fp.provider,
			serviceTier: 'flex',
			retry: { maxCapacityWaits: 3 },
			failFast: false,
		});
		const [o] = await drive(clock, r.run(items(1)));
		expect(o).toEqual({
			index: 0,
			ok: false,
			error: {
				code: 'resource_unavailable',
				message:
					'Flex capacity unavailable (429 resource_unavailable, not billed): Resource Unavailable: not enough flex capacity. Flex had no capacity for 4 tries (none billed): set a Flex Deadline to finish on the standard tier, or rerun this item later',
				retryable: true,
				attempts: 0,
				status: 429,
				provider: 'openai',
			},
		});
		// 0.5 of the ceilings 500, 1000, 2000 ms.
		expect(clock.sleeps.filter((ms) => ms > 0 && ms !== 100)).toEqual([250, 500, 1000]);
		expect([r.stats.capacityWaits, r.stats.failed, r.stats.costUsd]).toEqual([3, 1, 0]);
	});
});

describe('Flex Deadline', () => {
	/** Flex answers item 0 "unavailable" every time; the others after 4 s of flex latency. */
	const script =
		(flexMs: number): Script =>
		(req) => {
			if (req.serviceTier !== 'flex') return { answer: answer(req, 'default'), delayMs: 1000 };
			if (req.prompt === 'p0') return { answer: unavailable(), delayMs: 0 };
			return { answer: answer(req, 'flex'), delayMs: flexMs };
		};

	it('what is left at the deadline goes out at the standard tier: items not sent yet and items waiting on resource_unavailable; each result says its tier', async () => {
		const clock = new FakeClock(0, [0.5]);
		const fp = provider(clock, script(4000));
		const r = runner(clock, {
			provider: fp.provider,
			concurrency: 2,
			serviceTier: 'flex',
			flexDeadlineAt: 3000,
			flexTimeoutMs: 900_000,
			failFast: false,
		});
		const outcomes = await drive(clock, r.run(items(5)));
		const tiers = outcomes.map((o) => (o.ok ? o.result.serviceTier : o.error.code));
		// p1 and p2 go at flex at 0 s and are in flight at the deadline (they keep their tier); p0
		// waits out unavailability, p3 and p4 wait for a slot: all three go at default at 4 s.
		expect(tiers).toEqual(['default', 'flex', 'flex', 'default', 'default']);
		expect(fp.sent.map((x) => [x.prompt, x.tier, x.at, x.timeoutMs])).toEqual([
			['p0', 'flex', 0, 900_000],
			['p1', 'flex', 0, 900_000],
			['p2', 'flex', 0, 900_000],
			['p0', 'default', 4000, 10_000],
			['p3', 'default', 4000, 10_000],
			['p4', 'default', 5000, 10_000],
		]);
		expect(r.stats.answeredByTier).toEqual({ flex: 2, default: 3 });
		expect([r.stats.failed, r.stats.retries, r.stats.capacityWaits]).toEqual([0, 0, 1]);
		// Standard tier: 1M input at $0.25 + 100k output at $2.00 = $0.45; flex half of it.
		expect(outcomes.map((o) => o.ok && o.result.costUsd)).toEqual([0.45, 0.225, 0.225, 0.45, 0.45]);
	});

	it('a wait for flex capacity ends at the deadline, and the item goes at default right then', async () => {
		const clock = new FakeClock(0, [0.5]);
		const fp = provider(clock, script(100));
		const r = runner(clock, {
			provider: fp.provider,
			serviceTier: 'flex',
			flexDeadlineAt: 600,
			failFast: false,
		});
		const [o] = await drive(clock, r.run(items(1)), 10);
		expect(o.ok && o.result.serviceTier).toBe('default');
		// Waits of 250 ms, then 500 ms cut to the 350 ms left.
		expect(fp.sent.map((x) => [x.tier, x.at])).toEqual([
			['flex', 0],
			['flex', 250],
			['default', 600],
		]);
	});
});

describe('cost per tier through the one meter', () => {
	it('an answer is priced at the tier it reports: flex at the batch price, priority at its own, none at the standard price', async () => {
		const meter = new CostMeter({ pricing: modelPricing(), capUsd: 100 });
		const usage = { inputTokens: 1_000_000, outputTokens: 100_000 };
		const cost = async (serviceTier?: string) => {
			const r = await meter.reserve(
				'gpt-5-mini',
				{ inputTokens: 10, outputTokens: 10 },
				new AbortController().signal,
			);
			if (!r || 'refused' in r) throw new Error('refused');
			return meter.settle(r.ticket, { ...usage, ...(serviceTier ? { serviceTier } : {}) });
		};
		expect([await cost(), await cost('flex'), await cost('priority')]).toEqual([0.45, 0.225, 0.81]);
	});

	it('a model with no flex price is not priced at the standard price: its flex answers are unpriced, and a cap cannot be kept for them', async () => {
		const pricing = modelPricing();
		const usage = { inputTokens: 1000, outputTokens: 100 };
		expect(pricing.costOf('gpt-4o-mini', usage)).toBeGreaterThan(0);
		expect(pricing.costOf('gpt-4o-mini', { ...usage, serviceTier: 'flex' })).toBeUndefined();
		const meter = new CostMeter({ pricing, capUsd: 5 });
		const r = await meter.reserve(
			'gpt-4o-mini',
			{ inputTokens: 10, outputTokens: 10, serviceTier: 'flex' },
			new AbortController().signal,
		);
		expect(r).toEqual({
			refused: 'the price of gpt-4o-mini is unknown, so the cost cap of $5.0000 cannot be kept',
		});
	});

	it('a flex request reserves its most at the dearest tier it may be billed at (a server that ignores the tier bills the standard price)', () => {
		const pricing = modelPricing();
		const t = { inputTokens: 1_000_000, outputTokens: 100_000 };
		expect([
			pricing.maxCostOf('gpt-5-mini', t),
			pricing.maxCostOf('gpt-5-mini', { ...t, serviceTier: 'flex' }),
			pricing.maxCostOf('gpt-5-mini', { ...t, serviceTier: 'priority' }),
			pricing.maxCostOf('gpt-5-mini', { ...t, serviceTier: 'auto' }),
		]).toEqual([0.45, 0.45, 0.81, 0.81]);
	});
});
