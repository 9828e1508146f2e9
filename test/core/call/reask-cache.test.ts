import { describe, expect, it } from 'vitest';

import { privateFlow } from '../../../core/call/limiter/in-process';
import type { ChatRequest, ChatResponse, Provider } from '../../../core/call/providers/types';
import {
	FixChooser,
	MAX_REASK_ANSWER_CHARS,
	reaskAnswer,
	reaskMessage,
} from '../../../core/call/reask';
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

describe('Fix Invalid Answers By', () => {
	/** First answers of the listed prompts break the schema; a re-ask fixes it when `reaskFixes`. */
	function flaky(bad: (prompt: string) => boolean, reaskFixes = true) {
		const seen: ChatRequest[] = [];
		const calls = new Map<string, number>();
		const provider: Provider = {
			name: 'openai',
			async complete(req) {
				seen.push(req);
				const n = (calls.get(req.prompt) ?? 0) + 1;
				calls.set(req.prompt, n);
				if (req.followUp)
					return answer(reaskFixes ? '{"priority":"high"}' : '{"priority":"urgent"}');
				return answer(n === 1 && bad(req.prompt) ? '{"priority":"urgent"}' : '{"priority":"low"}');
			},
		};
		return { provider, seen };
	}

	it('cheapest: a short prompt at the default temperature is fixed by a fresh call', async () => {
		const { provider, seen } = flaky((p) => p === 'p0');
		const { outcomes, runner } = await run(
			{ provider, maxReasks: 1, fixInvalidBy: 'cheapest' },
			items(3, { inputTokens: 20 }),
		);
		expect(outcomes.map((o) => o.ok)).toEqual([true, true, true]);
		expect(seen.filter((r) => r.followUp)).toEqual([]);
		expect(seen.filter((r) => r.prompt === 'p0')).toHaveLength(2);
		const r0 = outcomes[0].ok ? outcomes[0].result : undefined;
		// both answers paid; no follow-up turn, so no re-ask counted
		expect(r0).toMatchObject({ attempts: 2, usage: { inputTokens: 200, outputTokens: 20 } });
		expect(r0?.reasks).toBeUndefined();
		expect(runner.stats).toMatchObject({ reasks: 0, freshFixes: 1, succeeded: 3 });
	});

	it('cheapest: a long prompt, or temperature 0, is re-asked', async () => {
		for (const extra of [
			{ inputTokens: 1000 },
			{
				inputTokens: 20,
				request: { model: 'm', prompt: 'p0', maxTokens: 100, schema: SCHEMA, temperature: 0 },
			},
		]) {
			const { provider, seen } = flaky((p) => p === 'p0');
			const { outcomes, runner } = await run(
				{ provider, maxReasks: 1, fixInvalidBy: 'cheapest' },
				items(1, extra),
			);
			expect(outcomes[0]).toMatchObject({ ok: true, result: { attempts: 2, reasks: 1 } });
			expect(seen.filter((r) => r.followUp)).toHaveLength(1);
			expect(runner.stats).toMatchObject({ reasks: 1, freshFixes: 0 });
		}
	});

	it('cheapest learns: re-asks that never fix the answer give way to fresh calls', async () => {
		// Every even item's first answer is invalid; the model ignores the errors of a re-ask
		// (its second answer is invalid again), while a fresh call is a new, valid, sample.
		const { provider, seen } = flaky((p) => Number(p.slice(1)) % 2 === 0, false);
		const { outcomes, runner } = await run(
			{ provider, maxReasks: 1, fixInvalidBy: 'cheapest', concurrency: 1 },
			items(60),
		);
		const reaskedItems = seen.filter((r) => r.followUp).map((r) => Number(r.prompt.slice(1)));
		// The first fixes are re-asks (the prior; the decisions made while the first re-asks are
		// still queued behind other items), then the run has shown they fail: fresh calls only.
		expect(reaskedItems.length).toBeGreaterThan(0);
		expect(reaskedItems.length).toBeLessThan(15);
		expect(Math.max(...reaskedItems)).toBeLessThan(30);
		expect(runner.stats.freshFixes).toBe(30 - reaskedItems.length);
		expect(runner.stats.succeeded).toBe(60 - reaskedItems.length);
		expect(outcomes.filter((o) => !o.ok)).toHaveLength(reaskedItems.length);
	});

	it('reask and fresh are taken as asked', async () => {
		for (const by of ['reask', 'fresh'] as const) {
			const { provider, seen } = flaky((p) => p === 'p0');
			const { runner } = await run(
				{ provider, maxReasks: 1, fixInvalidBy: by },
				items(1, { inputTokens: by === 'reask' ? 20 : 5000 }),
			);
			expect(seen.filter((r) => r.followUp)).toHaveLength(by === 'reask' ? 1 : 0);
			expect(runner.stats).toMatchObject({
				reasks: by === 'reask' ? 1 : 0,
				freshFixes: by === 'fresh' ? 1 : 0,
			});
		}
	});
});

describe('FixChooser', () => {
	// A 520-token prompt, a re-ask adds 30 tokens, answers are 17 tokens; gpt-4o-mini's prices.
	const cost = {
		promptTokens: 520,
		reaskExtraTokens: 30,
		outputTokens: 17,
		price: (i: number, o: number) => (i * 0.15 + o * 0.6) / 1e6,
	};
	const seeded = () => {
		const c = new FixChooser('cheapest');
		for (let i = 0; i < 100; i++) c.firstAnswer(i % 100 >= 8); // 92 % of first answers valid
		return c;
	};

	it('a re-ask 5 % dearer per call is tried, and kept while it always works', () => {
		const c = seeded();
		for (let i = 0; i < 30; i++) {
			expect(c.choose(cost)).toBe('reask');
			c.outcome('reask', true);
		}
	});

	it('re-asks that fail give way to fresh calls; a short prompt never tries one', () => {
		const c = seeded();
		expect(c.choose(cost)).toBe('reask');
		c.outcome('reask', false);
		c.outcome('reask', false);
		expect(c.choose(cost)).toBe('fresh');
		expect(seeded().choose({ ...cost, promptTokens: 25 })).toBe('fresh');
		// At temperature 0 a fresh call mostly repeats the answer: the short prompt is re-asked.
		expect(seeded().choose({ ...cost, promptTokens: 25, temperature: 0 })).toBe('reask');
	});
});
