import { describe, expect, it } from 'vitest';

import { privateFlow } from '../../../core/call/controller';
import type { ChatRequest, ChatResponse, Provider } from '../../../core/call/providers/types';
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
		expect(f0.errors).toMatch(
			/^Your answer failed validation:\n- \/priority must be equal to one of the allowed values/,
		);
		expect(f0.errors).toMatch(/Return only the corrected JSON/);
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
