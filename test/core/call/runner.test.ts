import OpenAI from 'openai';
import { describe, expect, it } from 'vitest';

import { privateFlow } from '../../../core/call/limiter/in-process';
import type { ChatRequest, ChatResponse, Provider } from '../../../core/call/providers/types';
import {
	BatchRunner,
	type Outcome,
	type RunItem,
	type RunnerOptions,
} from '../../../core/call/runner';
import type { LlmResult } from '../../../core/types';
import { compileSchema } from '../../../core/schema';
import { FakeClock } from '../../helpers/fake-clock';

type Behaviour = (req: ChatRequest, call: number) => ChatResponse | Error;

function ok(text: string, extra: Partial<ChatResponse> = {}): ChatResponse {
	return {
		text,
		finishReason: 'stop',
		usage: { inputTokens: 10, outputTokens: 5 },
		model: 'm',
		...extra,
	};
}

/** A provider whose answer per prompt is scripted; counts calls and concurrency. */
function fakeProvider(behaviour: Behaviour) {
	const calls = new Map<string, number>();
	let inFlight = 0;
	let maxInFlight = 0;
	let total = 0;
	const provider: Provider = {
		name: 'openai',
		async complete(req) {
			total++;
			inFlight++;
			maxInFlight = Math.max(maxInFlight, inFlight);
			const n = (calls.get(req.prompt) ?? 0) + 1;
			calls.set(req.prompt, n);
			await new Promise((r) => setImmediate(r));
			inFlight--;
			const out = behaviour(req, n);
			if (out instanceof Error) throw out;
			return out;
		},
	};
	return { provider, calls, stats: () => ({ maxInFlight, total }) };
}

function items(n: number, prompt = (i: number) => `p${i}`): RunItem[] {
	return Array.from({ length: n }, (_, i) => ({
		index: i,
		recordId: `r${i}`,
		request: { model: 'm', prompt: prompt(i), maxTokens: 100 },
		inputTokens: 10,
		promptHash: `h${i}`,
	}));
}

const apiError = (status: number, body: object = {}, headers: Record<string, string> = {}) =>
	OpenAI.APIError.generate(status, { error: body }, undefined, new Headers(headers));

async function run(
	opts: Partial<RunnerOptions> & { provider: Provider },
	list: RunItem[],
	clock = new FakeClock(),
) {
	const runner = new BatchRunner({
		flow: privateFlow({ rpm: 60_000, tpm: Infinity }, clock),
		clock,
		concurrency: 4,
		timeoutMs: 1000,
		...opts,
	});
	const p = runner.run(list);
	let settled = false;
	void p.finally(() => (settled = true));
	while (!settled) await clock.advance(1000);
	return { outcomes: await p, runner, clock };
}

const okCount = (o: Outcome[]) => o.filter((x) => x.ok).length;

describe('BatchRunner', () => {
	it('ends every item in exactly one outcome, in input order, with concurrency bounded', async () => {
		const fp = fakeProvider((req) => ok(`answer ${req.prompt}`));
		const { outcomes, runner } = await run({ provider: fp.provider, concurrency: 3 }, items(50));
		expect(outcomes.map((o) => o.index)).toEqual([...Array(50).keys()]);
		expect(
			outcomes.every(
				(o) =>
					o.ok && o.result.text === `answer p${o.index}` && o.result.recordId === `r${o.index}`,
			),
		).toBe(true);
		expect(fp.stats().maxInFlight).toBeLessThanOrEqual(3);
		expect(fp.stats().maxInFlight).toBe(3);
		expect(runner.stats).toMatchObject({
			total: 50,
			done: 50,
			succeeded: 50,
			failed: 0,
			inputTokens: 500,
			outputTokens: 250,
		});
	});

	it('retries transient errors with exact jittered backoff and counts attempts', async () => {
		const fp = fakeProvider((_r, n) => (n <= 2 ? apiError(503) : ok('fine')));
		const clock = new FakeClock(0, [0.5]);
		const { outcomes, runner } = await run(
			{ provider: fp.provider, concurrency: 1 },
			items(1),
			clock,
		);
		expect(outcomes[0]).toMatchObject({ ok: true, result: { attempts: 3, text: 'fine' } });
		expect(clock.sleeps.filter((ms) => ms === 250 || ms === 500)).toEqual([250, 500]);
		expect(runner.stats.retries).toBe(2);
	});

	it('fails an item after its attempt budget with the full error', async () => {
		const fp = fakeProvider(() => apiError(500));
		const { outcomes } = await run({ provider: fp.provider, retry: { maxAttempts: 3 } }, items(1));
		expect(outcomes[0]).toEqual({
			index: 0,
			ok: false,
			error: expect.objectContaining({
				code: 'server_error',
				retryable: true,
				attempts: 3,
				status: 500,
			}),
		});
		expect(fp.calls.get('p0')).toBe(3);
	});

	it('waits out 429s without spending attempts, honouring Retry-After', async () => {
		const fp = fakeProvider((_r, n) =>
			n <= 3 ? apiError(429, {}, { 'retry-after-ms': '1500' }) : ok('done'),
		);
		const clock = new FakeClock();
		const { outcomes, runner } = await run(
			{ provider: fp.provider, retry: { maxAttempts: 2 } },
			items(1),
			clock,
		);
		expect(outcomes[0]).toMatchObject({ ok: true, result: { attempts: 1 } });
		expect(runner.stats.rateLimited).toBe(3);
		expect(clock.now()).toBeGreaterThanOrEqual(4500);
	});

	it('does not retry a non-retryable error', async () => {
		const fp = fakeProvider(() => apiError(400, { message: 'bad model' }));
		const { outcomes } = await run({ provider: fp.provider }, items(1));
		expect(outcomes[0]).toMatchObject({
			ok: false,
			error: { code: 'invalid_request', attempts: 1, retryable: false },
		});
	});

	it('stops the run on an auth error: the rest fail fast with the same code', async () => {
		const fp = fakeProvider(() => apiError(401));
		const { outcomes, runner } = await run({ provider: fp.provider, concurrency: 2 }, items(100));
		expect(outcomes).toHaveLength(100);
		expect(outcomes.every((o) => !o.ok && o.error.code === 'auth')).toBe(true);
		expect(fp.stats().total).toBeLessThanOrEqual(2);
		expect(runner.stats.stopped?.code).toBe('auth');
	});

	it('stops on quota exhaustion', async () => {
		const fp = fakeProvider(() =>
			apiError(429, { type: 'insufficient_quota', code: 'insufficient_quota' }),
		);
		const { outcomes } = await run({ provider: fp.provider, concurrency: 1 }, items(20));
		expect(outcomes.filter((o) => !o.ok && o.error.code === 'quota_exhausted')).toHaveLength(20);
		expect(fp.stats().total).toBe(1);
	});

	it('opens the circuit on provider failures and, with onOpen stop, stops the run', async () => {
		const fp = fakeProvider(() => apiError(500));
		const { outcomes, runner } = await run(
			{
				provider: fp.provider,
				concurrency: 1,
				circuit: { onOpen: 'stop' },
			},
			items(200),
		);
		expect(runner.stats.stopped?.code).toBe('circuit_open');
		const notSent = outcomes.filter((o) => !o.ok && o.error.code === 'circuit_open');
		expect(notSent.length).toBeGreaterThan(150);
		// 20 failures of at least 10 different items open it (50 % of at least 20): with one slot
		// and backoffs that do not hold it, 10 items get there in about 30 calls
		expect(fp.stats().total).toBeGreaterThanOrEqual(20);
		expect(fp.stats().total).toBeLessThanOrEqual(40);
		const serverErrors = outcomes.filter((o) => !o.ok && o.error.code === 'server_error');
		expect(serverErrors.length + notSent.length).toBe(200);
		expect(outcomes).toHaveLength(200);
	});

	it('checks structured output: retries malformed JSON, fails schema violations with issues', async () => {
		const v = compileSchema({
			type: 'object',
			properties: { label: { type: 'string', enum: ['a', 'b'] } },
			required: ['label'],
		});
		if (!v.ok) throw new Error(v.message);
		const fp = fakeProvider((req, n) => {
			if (req.prompt === 'p0')
				return ok(n === 1 ? 'not json' : 'Sure: ```json\n{"label":"a"}\n```');
			if (req.prompt === 'p1') return ok('{"label":"zzz"}');
			return ok('{"label":"b"}');
		});
		const { outcomes } = await run(
			{ provider: fp.provider, structured: { validate: v.validate } },
			items(3),
		);
		expect(outcomes[0]).toMatchObject({
			ok: true,
			result: { output: { label: 'a' }, attempts: 2 },
		});
		expect(outcomes[1]).toMatchObject({
			ok: false,
			error: { code: 'schema_violation', issues: [expect.objectContaining({ path: '/label' })] },
		});
		expect(outcomes[2]).toMatchObject({ ok: true, result: { output: { label: 'b' } } });
	});

	it('routes refusals to content_filter and grows max tokens on truncation', async () => {
		const seen: number[] = [];
		const fp = fakeProvider((req) => {
			if (req.prompt === 'p0') return ok('', { finishReason: 'content_filter', refusal: 'no' });
			seen.push(req.maxTokens);
			return req.maxTokens < 400 ? ok('cut', { finishReason: 'length' }) : ok('whole');
		});
		const { outcomes } = await run({ provider: fp.provider }, items(2));
		expect(outcomes[0]).toMatchObject({
			ok: false,
			error: { code: 'content_filter', retryable: false },
		});
		expect(outcomes[1]).toMatchObject({ ok: true, result: { text: 'whole', attempts: 3 } });
		expect(seen).toEqual([100, 200, 400]);
	});

	it('stops spending at the cost cap', async () => {
		const fp = fakeProvider(() => ok('x'));
		const { outcomes, runner } = await run(
			{ provider: fp.provider, concurrency: 1, costOf: () => 0.01, maxCostUsd: 0.05 },
			items(20),
		);
		expect(okCount(outcomes)).toBe(5);
		expect(outcomes.filter((o) => !o.ok && o.error.code === 'budget_exceeded')).toHaveLength(15);
		expect(runner.stats.costUsd).toBeCloseTo(0.05);
	});

	it('returns stored results from the checkpoint without calling, and records the new ones', async () => {
		const stored: LlmResult = {
			recordId: 'r1',
			output: 'old',
			text: 'old',
			model: 'm',
			provider: 'openai',
			finishReason: 'stop',
			usage: { inputTokens: 1, outputTokens: 1 },
			attempts: 1,
			latencyMs: 1,
			cached: false,
			promptHash: 'h1',
			completedAt: 'x',
		};
		const events: string[] = [];
		const fp = fakeProvider((req) => ok(`new ${req.prompt}`));
		const { outcomes, runner } = await run(
			{
				provider: fp.provider,
				checkpoint: {
					lookup: async (entries) => entries.map((e) => (e.recordId === 'r1' ? stored : undefined)),
					claim: async (id) => {
						events.push(`start ${id}`);
						return { status: 'claimed' };
					},
					started: (id) => events.push(`started ${id}`),
					succeeded: (r) => events.push(`ok ${r.recordId}`),
					failed: (id) => events.push(`fail ${id}`),
					flush: async () => void events.push('flush'),
				},
			},
			items(3),
		);
		expect(outcomes.map((o) => (o.ok ? o.result.text : ''))).toEqual(['new p0', 'old', 'new p2']);
		expect(fp.calls.has('p1')).toBe(false);
		// each success is flushed before its worker moves on, and once more at the end
		expect(events.sort()).toEqual([
			'flush',
			'flush',
			'flush',
			'ok r0',
			'ok r2',
			'start r0',
			'start r2',
		]);
		expect(runner.stats.cached).toBe(1);
	});

	it('fails every item as canceled when the execution is stopped', async () => {
		const ac = new AbortController();
		const fp = fakeProvider(() => apiError(503));
		ac.abort();
		const { outcomes } = await run({ provider: fp.provider, signal: ac.signal }, items(5));
		expect(outcomes.every((o) => !o.ok && o.error.code === 'canceled')).toBe(true);
		expect(fp.stats().total).toBe(0);
	});
});
