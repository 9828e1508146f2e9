/**
 * Every answered request is paid for, so it counts towards the run's cost
 * and the cap whatever happens to the answer afterwards (schema violation, malformed JSON).
 */
import { describe, expect, it } from 'vitest';

import { privateFlow } from '../../../core/call/limiter/in-process';
import type { Provider } from '../../../core/call/providers/types';
import { BatchRunner, type RunItem, type RunnerOptions } from '../../../core/call/runner';
import { compileSchema } from '../../../core/schema';
import { FakeClock } from '../../helpers/fake-clock';

const SCHEMA = { type: 'object', properties: { n: { type: 'integer' } }, required: ['n'] };

/** Answers valid JSON for even items, JSON that breaks the schema for odd ones. */
function provider() {
	let calls = 0;
	const p: Provider = {
		name: 'openai',
		async complete(req) {
			calls++;
			await new Promise((r) => setImmediate(r));
			const i = Number(req.prompt.slice(1));
			return {
				text: JSON.stringify(i % 2 === 0 ? { n: i } : { n: 'not a number' }),
				finishReason: 'stop',
				usage: { inputTokens: 50, outputTokens: 50 },
				model: 'm',
			};
		},
	};
	return { provider: p, calls: () => calls };
}

const items = (n: number): RunItem[] =>
	Array.from({ length: n }, (_, i) => ({
		index: i,
		recordId: `r${i}`,
		request: { model: 'm', prompt: `p${i}`, maxTokens: 100 },
		inputTokens: 50,
		promptHash: `h${i}`,
	}));

async function run(opts: Partial<RunnerOptions> & { provider: Provider }, list: RunItem[]) {
	const clock = new FakeClock();
	const compiled = compileSchema(SCHEMA);
	if (!compiled.ok) throw new Error(compiled.message);
	const runner = new BatchRunner({
		flow: privateFlow({ rpm: 60_000, tpm: Infinity }, clock),
		clock,
		concurrency: 1,
		timeoutMs: 1000,
		structured: { validate: compiled.validate },
		// $1 per 1M tokens: 100 tokens = $0.0001 per answered request.
		costOf: (_m, u) => (u.inputTokens + u.outputTokens) / 1e6,
		...opts,
	});
	const p = runner.run(list);
	let settled = false;
	void p.finally(() => (settled = true));
	while (!settled) await clock.advance(1000);
	return { outcomes: await p, runner };
}

describe('spend accounting', () => {
	it('answers that fail validation still count towards cost, tokens and the cap', async () => {
		const all = provider();
		const { outcomes, runner } = await run({ provider: all.provider }, items(10));
		expect(outcomes.filter((o) => o.ok)).toHaveLength(5);
		expect(outcomes.filter((o) => !o.ok && o.error.code === 'schema_violation')).toHaveLength(5);
		// Ten answered requests, ten paid: $0.001, 1,000 tokens (not the successes' $0.0005).
		expect(runner.stats.costUsd).toBeCloseTo(0.001, 10);
		expect(runner.stats.inputTokens + runner.stats.outputTokens).toBe(1000);

		const capped = provider();
		const { outcomes: out2, runner: r2 } = await run(
			{ provider: capped.provider, maxCostUsd: 0.0003 },
			items(10),
		);
		// Two answered requests (one valid, one not) paid $0.0002: a third, which may cost up
		// to $0.00015 (50 prompt + 100 output tokens), no longer fits under the cap.
		expect(capped.calls()).toBe(2);
		expect(r2.stats.costUsd).toBeCloseTo(0.0002, 10);
		expect(out2.filter((o) => !o.ok && o.error.code === 'budget_exceeded')).toHaveLength(8);
	});
});
