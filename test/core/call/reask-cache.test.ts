import { describe, expect, it } from 'vitest';

import { privateFlow } from '../../../core/call/controller';
import type { ChatRequest, ChatResponse, Provider } from '../../../core/call/providers/types';
import { MAX_REASK_ANSWER_CHARS, reaskAnswer, reaskMessage } from '../../../core/call/reask';
import { BatchRunner, type RunItem, type RunnerOptions } from '../../../core/call/runner';
import { compileSchema } from '../../../core/schema';
import { FakeClock } from '../../helpers/fake-clock';

const SCHEMA = {
	type: 'object',
	properties: { priority: { type: 'string', enum: ['low', 'high'] } },
	required: ['priority'],
};
const v = compileSchema(SCHEMA);
const validate = v.ok ? v.validate : undefined;

function items(n: number, extra: Partial<RunItem> = {}): RunItem[] {
	return Array.from({ length: n }, (_, i) => ({
		index: i,
		recordId: `r${i}`,
		request: { model: 'm', system: 'S', prompt: `p${i}`, maxTokens: 100, schema: SCHEMA },
		inputTokens: 1000,
		promptHash: `h${i}`,
		...extra,
	}));
}

async function run(opts: Partial<RunnerOptions> & { provider: Provider }, list: RunItem[]) {
	const clock = new FakeClock();
	const runner = new BatchRunner({
		flow: privateFlow({ rpm: 60_000, tpm: Infinity }, clock),
		clock,
		concurrency: 4,
		timeoutMs: 1000,
		structured: { validate },
		costOf: (_m, u) => u.inputTokens + u.outputTokens,
		...opts,
	});
	const p = runner.run(list);
	let settled = false;
	void p.finally(() => (settled = true));
	while (!settled) await clock.advance(1000);
	return { outcomes: await p, runner };
}

const answer = (text: string, inputTokens = 100): ChatResponse => ({
	text,
	finishReason: 'stop',
	usage: { inputTokens, outputTokens: 10 },
	model: 'm',
});

describe('re-ask with the errors', () => {
	it('sends one follow-up turn with the validation errors; attempts and cost include it', async () => {
		const seen: ChatRequest[] = [];
		const provider: Provider = {
			name: 'openai',
			async complete(req) {
				seen.push(req);
				if (req.prompt === 'p0' && !req.followUp) return answer('{"priority":"urgent"}');
				if (req.prompt === 'p1' && !req.followUp) return answer('not json');
				return answer('{"priority":"high"}', req.followUp ? 130 : 100);
			},
		};
		const { outcomes, runner } = await run({ provider, maxReasks: 1 }, items(3));
		expect(outcomes.every((o) => o.ok)).toBe(true);
		const r0 = outcomes[0].ok ? outcomes[0].result : undefined;
		expect(r0).toMatchObject({ attempts: 2, reasks: 1, output: { priority: 'high' } });
		// both answers paid: 100 + 130 input, 10 + 10 output
		expect(r0?.usage).toEqual({ inputTokens: 230, outputTokens: 20 });
		expect(r0?.costUsd).toBe(250);
		const followUps = seen.filter((r) => r.followUp);
		expect(followUps.map((r) => r.prompt).sort()).toEqual(['p0', 'p1']);
		const f0 = followUps.find((r) => r.prompt === 'p0')!.followUp!;
		expect(f0.answer).toBe('{"priority":"urgent"}');
		// One short line per problem: the path and what is allowed.
		expect(f0.errors).toBe(
			'Invalid answer:\n/priority: one of "low", "high"\nReply with the corrected JSON only.',
		);
		const f1 = followUps.find((r) => r.prompt === 'p1')!.followUp!;
		expect(f1.answer).toBe('not json');
		expect(f1.errors).toMatch(/^Invalid answer:\nThe answer is not the JSON that was asked for: /);
		expect(runner.stats).toMatchObject({
			reasks: 2,
			succeeded: 3,
			inputTokens: 100 + 230 * 2,
			costUsd: 110 + 250 * 2,
		});
	});

	it('stops after Max Re-Asks and fails with the last error', async () => {
		const provider: Provider = {
			name: 'openai',
			complete: async () => answer('{"priority":"urgent"}'),
		};
		const { outcomes } = await run({ provider, maxReasks: 2 }, items(1));
		expect(outcomes[0]).toMatchObject({
			ok: false,
			error: { code: 'schema_violation', attempts: 3 },
		});
	});

	it('without re-asks a schema violation fails at once (no fresh call)', async () => {
		let calls = 0;
		const provider: Provider = {
			name: 'openai',
			complete: async () => (calls++, answer('{"priority":"urgent"}')),
		};
		const { outcomes } = await run({ provider }, items(1));
		expect(outcomes[0]).toMatchObject({
			ok: false,
			error: { code: 'schema_violation', attempts: 1 },
		});
		expect(calls).toBe(1);
	});
});

describe('prompt caching in the runner', () => {
	it('warms the cache with one request before the fan-out', async () => {
		let inFlight = 0;
		const order: Array<[string, number]> = [];
		const provider: Provider = {
			name: 'anthropic',
			async complete(req) {
				inFlight++;
				order.push([req.prompt, inFlight]);
				await new Promise((r) => setImmediate(r));
				inFlight--;
				return answer('{"priority":"low"}');
			},
		};
		await run({ provider, warmUp: true, concurrency: 4 }, items(9));
		expect(order[0]).toEqual(['p0', 1]);
		expect(Math.max(...order.slice(1).map((o) => o[1]))).toBe(4);
	});

	it("charges Anthropic's limiter without cache reads once warm", async () => {
		const clock = new FakeClock();
		const limiter = privateFlow({ rpm: 60_000, tpm: 1e9 }, clock);
		const charged: number[] = [];
		const acquire = limiter.acquire.bind(limiter);
		limiter.acquire = (t: number, s?: AbortSignal) => (charged.push(t), acquire(t, s));
		const corrections: Array<[number, number]> = [];
		const correct = limiter.correct.bind(limiter);
		limiter.correct = (e: number, a: number) => (corrections.push([e, a]), correct(e, a));
		const provider: Provider = {
			name: 'anthropic',
			complete: async () => ({
				...answer('{"priority":"low"}', 1100),
				usage: { inputTokens: 1100, outputTokens: 10, cachedInputTokens: 1000 },
			}),
		};
		const runner = new BatchRunner({
			provider,
			flow: limiter,
			clock,
			concurrency: 1,
			timeoutMs: 1000,
			structured: { validate },
			warmUp: true,
		});
		await runner.run(items(2, { cachePrefixTokens: 900 }));
		// warm-up: full estimate; after: without the cached prefix
		expect(charged).toEqual([1100, 200]);
		// corrected to what Anthropic counts: input without cache reads
		expect(corrections).toEqual([
			[1000, 100],
			[100, 100],
		]);
		expect(runner.stats.cachedInputTokens).toBe(2000);
	});
});

describe('the re-ask turn is compact', () => {
	it('lists one short line per problem: the path and what is allowed', () => {
		const strict = compileSchema({
			type: 'object',
			properties: {
				category: { type: 'string', enum: ['billing', 'bug'] },
				total: { type: 'number' },
			},
			required: ['category', 'total'],
			additionalProperties: false,
		});
		if (!strict.ok) throw new Error(strict.message);
		const issues = strict.validate({ category: 'x', total: 'y', extra: 1 });
		expect(reaskMessage({ code: 'schema_violation', message: 'm', issues })).toBe(
			[
				'Invalid answer:',
				'/extra: not allowed',
				'/category: one of "billing", "bug"',
				'/total: must be number',
				'Reply with the corrected JSON only.',
			].join('\n'),
		);
		expect(
			reaskMessage({ code: 'schema_violation', message: 'm', issues: strict.validate({}) }),
		).toBe(
			'Invalid answer:\n/category: missing\n/total: missing\nReply with the corrected JSON only.',
		);
		// A message without issues is cut to a bounded length.
		const long = reaskMessage({ code: 'malformed_output', message: 'x'.repeat(5000) });
		expect(long.length).toBeLessThan(300);
	});

	it('re-sends the rejected answer as minified JSON, or a non-JSON answer cut short', () => {
		const pretty = 'Here it is:\n```json\n{\n  "priority": "urgent",\n  "n": [1, 2]\n}\n```';
		expect(reaskAnswer(pretty)).toBe('{"priority":"urgent","n":[1,2]}');
		expect(reaskAnswer('ignored', { a: 1 })).toBe('{"a":1}');
		const prose = 'word '.repeat(1000);
		expect(reaskAnswer(prose)).toBe(`${prose.slice(0, MAX_REASK_ANSWER_CHARS)}…`);
		expect(reaskAnswer('short prose')).toBe('short prose');
	});

	it('a pretty-printed answer goes back minified in the runner', async () => {
		const seen: ChatRequest[] = [];
		const provider: Provider = {
			name: 'openai',
			async complete(req) {
				seen.push(req);
				return req.followUp ? answer('{"priority":"low"}') : answer('{\n  "priority": "urgent"\n}');
			},
		};
		const { outcomes } = await run({ provider, maxReasks: 1 }, items(1));
		expect(outcomes[0].ok).toBe(true);
		expect(seen[1].followUp?.answer).toBe('{"priority":"urgent"}');
	});
});
