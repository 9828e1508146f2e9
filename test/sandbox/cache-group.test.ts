import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createProvider } from '../../core/call/providers';
import { groupPrompt, groupSchema } from '../../core/call/group';
import { reaskMessage } from '../../core/call/reask';
import { expectedReply, startSandbox, type Sandbox } from '../../sandbox/server';

const LONG = 'You are a careful support classifier. '.repeat(120); // ~4,560 chars ~ 1,140 tokens
const SCHEMA = {
	type: 'object',
	properties: { category: { type: 'string', enum: ['a', 'b'] }, echo: { type: 'string' } },
	required: ['category', 'echo'],
};

describe('sandbox: prompt cache, grouped answers, re-ask turns', () => {
	let sandbox: Sandbox;
	let t = 1_000_000;
	beforeAll(async () => {
		sandbox = await startSandbox({ seed: 3, now: () => t });
	});
	afterAll(async () => sandbox?.close());

	it('Anthropic: a marked long prefix is written once, then read within its TTL; input_tokens excludes both', async () => {
		sandbox.reset();
		const p = createProvider('anthropic', { apiKey: 'k', baseUrl: sandbox.url });
		const req = {
			model: 'claude-sonnet-4',
			system: LONG,
			prompt: 'ticket 1',
			maxTokens: 50,
			cache: { ttl: '5m' as const },
		};
		const first = await p.complete(req, { timeoutMs: 5000 });
		const prefix = Math.ceil(LONG.length / 4);
		expect(first.usage.cacheWriteTokens).toBe(prefix);
		expect(first.usage.cachedInputTokens).toBeUndefined();
		const second = await p.complete({ ...req, prompt: 'ticket 2' }, { timeoutMs: 5000 });
		expect(second.usage.cachedInputTokens).toBe(prefix);
		expect(second.usage.inputTokens).toBe(Math.ceil((LONG.length + 'ticket 2'.length) / 4));
		// expired after 5 minutes without a read
		t += 5 * 60_000 + 1;
		const third = await p.complete({ ...req, prompt: 'ticket 3' }, { timeoutMs: 5000 });
		expect(third.usage.cacheWriteTokens).toBe(prefix);
		// 1-hour TTL is reported as a 1-hour write
		const hour = await p.complete(
			{ ...req, model: 'claude-opus-4-1', cache: { ttl: '1h' } },
			{ timeoutMs: 5000 },
		);
		expect(hour.usage.cacheWrite1hTokens).toBe(prefix);
		// unmarked, or too short for the model: nothing cached
		const plain = await p.complete({ ...req, cache: undefined }, { timeoutMs: 5000 });
		expect(plain.usage.cachedInputTokens ?? plain.usage.cacheWriteTokens).toBeUndefined();
		const haiku45 = await p.complete({ ...req, model: 'claude-haiku-4-5' }, { timeoutMs: 5000 });
		expect(haiku45.usage.cacheWriteTokens).toBeUndefined(); // 1,140 < 4,096
		expect(sandbox.stats().cacheReadTokens).toBe(prefix);
	});

	it('OpenAI: the system prefix of 1,024+ tokens is cached in 128-token steps under its prompt_cache_key', async () => {
		sandbox.reset();
		const p = createProvider('openai', { apiKey: 'k', baseUrl: `${sandbox.url}/v1` });
		const req = {
			model: 'gpt-4o-mini',
			system: LONG,
			prompt: 'ticket 1',
			maxTokens: 50,
			cache: { ttl: '5m' as const, key: 'k1' },
		};
		const first = await p.complete(req, { timeoutMs: 5000 });
		expect(first.usage.cachedInputTokens).toBeUndefined();
		const second = await p.complete({ ...req, prompt: 'ticket 2' }, { timeoutMs: 5000 });
		expect(second.usage.cachedInputTokens).toBe(Math.floor(Math.ceil(LONG.length / 4) / 128) * 128);
		const otherKey = await p.complete(
			{ ...req, cache: { ttl: '5m', key: 'k2' } },
			{ timeoutMs: 5000 },
		);
		expect(otherKey.usage.cachedInputTokens).toBeUndefined();
	});

	it('answers each record of a grouped prompt as it answers the record alone; drops, duplicates and swaps on request', async () => {
		sandbox.reset();
		const p = createProvider('openai', { apiKey: 'k', baseUrl: `${sandbox.url}/v1` });
		const recs = [0, 1, 2].map((i) => ({ id: `R${i}`, ref: `ref${i}`, text: `ticket ${i}` }));
		const req = {
			model: 'gpt-4o-mini',
			prompt: groupPrompt(recs),
			schema: groupSchema(SCHEMA),
			maxTokens: 500,
		};
		const res = await p.complete(req, { timeoutMs: 5000 });
		expect(JSON.parse(res.text)).toEqual(
			Object.fromEntries(
				recs.map((r) => [
					r.id,
					{ ref: r.ref, answer: expectedReply({ prompt: r.text, schema: SCHEMA }).output },
				]),
			),
		);
		sandbox.configure({ groupFaults: { swap: 1 } });
		const swapped = JSON.parse((await p.complete(req, { timeoutMs: 5000 })).text) as Record<
			string,
			{ ref: string }
		>;
		expect(Object.entries(swapped).filter(([id, v]) => v.ref !== `ref${id.slice(1)}`).length).toBe(
			2,
		);
		sandbox.configure({ groupFaults: { drop: 1 } });
		expect(Object.keys(JSON.parse((await p.complete(req, { timeoutMs: 5000 })).text)).length).toBe(
			2,
		);
		expect(sandbox.stats().groupFaults).toEqual({ drop: 1, duplicate: 0, swap: 1 });
		expect(() => sandbox.configure({ groupFaults: { nope: 1 } as never })).toThrow(/groupFaults/);
		sandbox.configure({ groupFaults: {} });
	});

	it('schemaViolation leaves a required property out; a re-ask turn gets the correct answer', async () => {
		sandbox.reset();
		sandbox.configure({ faults: { schemaViolation: 1 } });
		const p = createProvider('anthropic', { apiKey: 'k', baseUrl: sandbox.url });
		const req = { model: 'claude-sonnet-4', prompt: 'ticket 9', maxTokens: 100, schema: SCHEMA };
		const bad = await p.complete(req, { timeoutMs: 5000 });
		expect(bad.data).toEqual({
			echo: (expectedReply({ prompt: 'ticket 9', schema: SCHEMA }).output as { echo: string }).echo,
		});
		const fixed = await p.complete(
			{
				...req,
				followUp: {
					answer: JSON.stringify(bad.data),
					errors: reaskMessage({
						code: 'schema_violation',
						message: 'x',
						issues: [{ path: '', message: "must have required property 'category'" }],
					}),
				},
			},
			{ timeoutMs: 5000 },
		);
		expect(fixed.data).toEqual(expectedReply({ prompt: 'ticket 9', schema: SCHEMA }).output);
		sandbox.configure({ faults: {} });
	});

	it('temperature 0: an identical retry mostly repeats the first answer; otherwise each answer rolls on its own', async () => {
		const p = createProvider('openai', { apiKey: 'k', baseUrl: `${sandbox.url}/v1` });
		const valid = async (prompt: string, temperature?: number) => {
			const r = await p.complete(
				{ model: 'gpt-4o-mini', prompt, maxTokens: 100, schema: SCHEMA, temperature },
				{ timeoutMs: 5000 },
			);
			const out = (r.data ?? JSON.parse(r.text)) as Record<string, unknown>;
			return 'category' in out;
		};
		/** Each of 200 prompts sent twice: [first answers that failed, pairs that differ]. */
		const twice = async (temperature: number | undefined, same: number) => {
			sandbox.reset();
			sandbox.configure({ faults: { schemaViolation: 0.5 }, sameAnswerAtTemperature0: same });
			let failed = 0;
			let differ = 0;
			for (let i = 0; i < 200; i++) {
				const a = await valid(`ticket ${i}`, temperature);
				const b = await valid(`ticket ${i}`, temperature);
				if (!a) failed++;
				if (a !== b) differ++;
			}
			return [failed, differ];
		};
		const [failed0, differ0] = await twice(0, 1);
		expect(failed0).toBeGreaterThan(60);
		expect(failed0).toBeLessThan(140);
		expect(differ0).toBe(0);
		// The default: 9 in 10 retries repeat, the tenth rolls (and differs half the time).
		const [, differDefault] = await twice(0, 0.9);
		expect(differDefault).toBeGreaterThan(0);
		expect(differDefault).toBeLessThan(25);
		// Temperature 1, or none sent (the providers' default is 1): independent.
		for (const t of [1, undefined]) {
			const [, differ] = await twice(t, 1);
			expect(differ).toBeGreaterThan(60);
			expect(differ).toBeLessThan(140);
		}
		expect(() => sandbox.configure({ sameAnswerAtTemperature0: 2 })).toThrow(
			/sameAnswerAtTemperature0/,
		);
		sandbox.configure({ faults: {}, sameAnswerAtTemperature0: 0.9 });
	});
});
