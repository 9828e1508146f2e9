/**
 * One cost meter per run, across every model in the chain: each model priced by its own
 * price, a model of unknown price refused before the first call when a cap is set, and the
 * cap holding for the primary, its fallbacks, grouped requests and 16 requests in flight.
 * Billed = what the sandboxes report as used (each sandbox serves one model) × that model's
 * price; the promise: billed ≤ cap + one request's maximum cost.
 */
import { NodeOperationError } from 'n8n-workflow';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import { resetSharedFlow } from '../../core/call/limiter/in-process';
import { costUsd, type Price } from '../../core/cost';
import { executeLlmBatchCall } from '../../nodes/LlmBatchCall/execute';
import { startSandbox, type Sandbox } from '../../sandbox/server';
import { mockExecute, type MockOptions } from '../helpers/mock-execute';

const MAX_TOKENS = 64;

const records = (n: number) =>
	Array.from({ length: n }, (_, i) => ({ id: `R${i}`, text: `Summarise ticket ${i}.` }));

function params(
	extra: Record<string, unknown> = {},
	options: Record<string, unknown> = {},
): MockOptions['parameters'] {
	return {
		provider: 'openai',
		model: 'gpt-4o',
		prompt: (_i: number, item: { json: Record<string, unknown> }) => item.json.text,
		recordId: (_i: number, item: { json: Record<string, unknown> }) => item.json.id,
		outputFormat: 'text',
		concurrency: 4,
		requestsPerMinute: 600_000,
		tokensPerMinute: 100_000_000,
		resultField: 'llm',
		ledgerStore: 'none',
		options: { progressIntervalSeconds: 0, maxTokens: MAX_TOKENS, maxAttempts: 1, ...options },
		...extra,
	};
}

/** What a sandbox billed, at `price` (a model's table price, or the one a test sets). */
function billed(sb: Sandbox, price: Price): number {
	const s = sb.stats();
	return (s.inputTokens * price.inputPer1M + s.outputTokens * price.outputPer1M) / 1e6;
}

const table = (model: string): Price => {
	const p = costUsd(model, { inputTokens: 1e6, outputTokens: 0 });
	const o = costUsd(model, { inputTokens: 0, outputTokens: 1e6 });
	return { inputPer1M: p!, outputPer1M: o! };
};

/** One plain request's most: a prompt far above these records' (~10 tokens) and Max Tokens. */
const maxOne = (price: Price, outputTokens = MAX_TOKENS) =>
	(200 * price.inputPer1M + outputTokens * price.outputPer1M) / 1e6;

type Json = Record<string, unknown>;
const codes = (items: Array<{ json: Json }>) =>
	items.map((f) => (f.json.error as { code: string }).code);

describe('one cost meter across the model chain (LLM Batch Call, sandbox billing)', () => {
	let primary: Sandbox;
	let fallback: Sandbox;
	beforeAll(async () => {
		primary = await startSandbox({ seed: 21 });
		fallback = await startSandbox({ seed: 22 });
	});
	afterAll(async () => {
		await primary?.close();
		await fallback?.close();
	});
	beforeEach(() => {
		resetSharedFlow();
		for (const sb of [primary, fallback]) {
			sb.configure({ faults: {}, groupFaults: {}, modelFaults: {}, latencyMs: { min: 0, max: 0 } });
			sb.reset();
		}
	});
	const creds = () => ({
		llmBatchOpenAiApi: { apiKey: 'k', baseUrl: `${primary.url}/v1` },
		llmBatchFallbackApi: { apiKey: 'f', baseUrl: `${fallback.url}/v1` },
	});

	it('a price override prices only the model it is set on: a free local primary down, gpt-4o answering, the cap holds', async () => {
		primary.configure({ faults: { status503: 1 } });
		const cap = 0.001;
		const m = mockExecute({
			items: records(100),
			parameters: params(
				{ model: 'llama3.1-local', fallbackProvider: 'openai', fallbackModels: 'gpt-4o' },
				{ maxCostUsd: cap, inputPricePer1M: 0, outputPricePer1M: 0 },
			),
			credentials: creds(),
		});
		const [success, failed] = await executeLlmBatchCall(m.fns);
		const spent = billed(fallback, table('gpt-4o'));
		expect(spent).toBeGreaterThan(0);
		expect(spent).toBeLessThanOrEqual(cap + maxOne(table('gpt-4o')));
		// Every answer is gpt-4o's, at gpt-4o's price, and the items add up.
		for (const s of success) {
			const llm = s.json.llm as { model: string; costUsd: number; usage: never; fallback: number };
			expect(llm.fallback).toBe(1);
			expect(llm.costUsd).toBe(costUsd('gpt-4o', llm.usage));
		}
		expect(success.length + failed.length).toBe(100);
		expect(codes(failed).every((c) => c === 'budget_exceeded')).toBe(true);
	});

	it('a fallback model of unknown price with a cap set is a configuration error naming it; nothing is sent', async () => {
		for (const options of [
			{ maxCostUsd: 1 },
			{ maxCostUsd: 1, inputPricePer1M: 0, outputPricePer1M: 0 },
		]) {
			resetSharedFlow();
			const m = mockExecute({
				items: records(5),
				parameters: params(
					{
						model: 'gpt-4o-mini',
						fallbackProvider: 'openai',
						fallbackModels: 'gpt-4o, mystery-model',
					},
					options,
				),
				credentials: creds(),
			});
			const out = executeLlmBatchCall(m.fns);
			await expect(out).rejects.toThrow(NodeOperationError);
			await expect(out).rejects.toThrow(/mystery-model/);
		}
		expect(primary.stats().requests + fallback.stats().requests).toBe(0);
		// With its own price it runs, priced at that price.
		resetSharedFlow();
		const priced = mockExecute({
			items: records(3),
			parameters: params(
				{ model: 'gpt-4o-mini', fallbackProvider: 'openai', fallbackModels: 'mystery-model' },
				{
					maxCostUsd: 1,
					modelPrices: {
						price: [{ model: 'mystery-model', inputPricePer1M: 3, outputPricePer1M: 7 }],
					},
				},
			),
			credentials: creds(),
		});
		primary.configure({ faults: { status503: 1 } });
		const [success] = await executeLlmBatchCall(priced.fns);
		expect(success).toHaveLength(3);
		for (const s of success) {
			const llm = s.json.llm as {
				costUsd: number;
				usage: { inputTokens: number; outputTokens: number };
			};
			expect(llm.costUsd).toBeCloseTo(
				(llm.usage.inputTokens * 3 + llm.usage.outputTokens * 7) / 1e6,
				12,
			);
		}
	});

	it('Max Cost per Run counts every model of the chain', async () => {
		primary.configure({ faults: { status503: 0.5 } });
		const cap = 0.005;
		const m = mockExecute({
			items: records(120),
			parameters: params(
				{ model: 'gpt-4o', fallbackProvider: 'openai', fallbackModels: 'gpt-4.1' },
				{ maxCostUsd: cap },
			),
			credentials: creds(),
		});
		const [success, failed] = await executeLlmBatchCall(m.fns);
		const spent = billed(primary, table('gpt-4o')) + billed(fallback, table('gpt-4.1'));
		expect(billed(fallback, table('gpt-4.1'))).toBeGreaterThan(0);
		expect(spent).toBeLessThanOrEqual(cap + maxOne(table('gpt-4o')));
		expect(success.length + failed.length).toBe(120);
		expect(codes(failed)).toContain('budget_exceeded');
	});

	it('16 requests in flight: the cap holds within one request', async () => {
		primary.configure({ latencyMs: { min: 20, max: 40 } });
		const cap = 0.005;
		const m = mockExecute({
			items: records(200),
			parameters: params({ concurrency: 16 }, { maxCostUsd: cap }),
			credentials: creds(),
		});
		const [success, failed] = await executeLlmBatchCall(m.fns);
		const spent = billed(primary, table('gpt-4o'));
		expect(spent).toBeLessThanOrEqual(cap + maxOne(table('gpt-4o')));
		// The cap is used, not refused from the start.
		expect(spent).toBeGreaterThan(cap / 2);
		expect(success.length + failed.length).toBe(200);
		expect(codes(failed).every((c) => c === 'budget_exceeded')).toBe(true);
	});

	it('re-asks of answers that broke the schema, 16 in flight: every call counts, the cap holds within one request', async () => {
		primary.configure({ faults: { schemaViolation: 0.5 }, latencyMs: { min: 20, max: 40 } });
		const cap = 0.005;
		const m = mockExecute({
			items: records(200),
			parameters: params(
				{
					concurrency: 16,
					outputFormat: 'json',
					jsonSchema: JSON.stringify({
						type: 'object',
						properties: { summary: { type: 'string' } },
						required: ['summary'],
					}),
				},
				{ maxCostUsd: cap, maxReasks: 2, fixInvalidBy: 'reask' },
			),
			credentials: creds(),
		});
		const [success, failed] = await executeLlmBatchCall(m.fns);
		const spent = billed(primary, table('gpt-4o'));
		expect(spent).toBeLessThanOrEqual(cap + maxOne(table('gpt-4o')));
		expect(spent).toBeGreaterThan(cap / 2);
		expect(success.some((s) => (s.json.llm as { reasks?: number }).reasks)).toBe(true);
		expect(success.length + failed.length).toBe(200);
		expect(codes(failed)).toContain('budget_exceeded');
	});

	it('Records per Request: grouped requests, 16 in flight, the cap holds within one grouped request', async () => {
		primary.configure({ latencyMs: { min: 20, max: 40 } });
		// Input-priced only, so a grouped request's most is close to what it really costs.
		const price: Price = { inputPer1M: 50, outputPer1M: 0 };
		const perGroup = 10;
		// About 12 grouped requests' worth.
		const cap = 12 * perGroup * 20 * (price.inputPer1M / 1e6);
		const m = mockExecute({
			items: records(600),
			parameters: params(
				{ model: 'local-grouped', concurrency: 16 },
				{
					maxCostUsd: cap,
					inputPricePer1M: price.inputPer1M,
					outputPricePer1M: 0,
					recordsPerRequest: perGroup,
				},
			),
			credentials: creds(),
		});
		const [success, failed] = await executeLlmBatchCall(m.fns);
		const st = primary.stats();
		const spent = billed(primary, price);
		// One grouped request's most: its records' prompts and the grouping instructions, well above.
		const maxGroup = ((perGroup * 40 + 400) * price.inputPer1M) / 1e6;
		expect(spent).toBeLessThanOrEqual(cap + maxGroup);
		expect(st.accepted).toBeGreaterThan(0);
		expect(success.length + failed.length).toBe(600);
	});

	it('Records per Request with a fallback chain: one cap for both models, each at its own price', async () => {
		primary.configure({ faults: { status503: 0.5 }, latencyMs: { min: 5, max: 15 } });
		fallback.configure({ latencyMs: { min: 5, max: 15 } });
		const ownPrice: Price = { inputPer1M: 50, outputPer1M: 0 };
		const fallbackPrice: Price = { inputPer1M: 80, outputPer1M: 0 };
		const perGroup = 10;
		// More than the primary spends on its answers: the fallback runs into the cap.
		const cap = 60 * perGroup * 20 * (ownPrice.inputPer1M / 1e6);
		const m = mockExecute({
			items: records(600),
			parameters: params(
				{
					model: 'local-a',
					concurrency: 8,
					fallbackProvider: 'openai',
					fallbackModels: 'local-b',
				},
				{
					maxCostUsd: cap,
					inputPricePer1M: ownPrice.inputPer1M,
					outputPricePer1M: 0,
					recordsPerRequest: perGroup,
					modelPrices: { price: [{ model: 'local-b', inputPricePer1M: 80, outputPricePer1M: 0 }] },
				},
			),
			credentials: creds(),
		});
		const [success, failed] = await executeLlmBatchCall(m.fns);
		const spent = billed(primary, ownPrice) + billed(fallback, fallbackPrice);
		const maxGroup = ((perGroup * 40 + 400) * fallbackPrice.inputPer1M) / 1e6;
		expect(billed(fallback, fallbackPrice)).toBeGreaterThan(0);
		expect(spent).toBeLessThanOrEqual(cap + maxGroup);
		expect(success.length + failed.length).toBe(600);
		// The fallback's answers carry its own price.
		const fromFallback = success
			.map(
				(s) => s.json.llm as { fallback?: number; costUsd: number; usage: { inputTokens: number } },
			)
			.filter((l) => l.fallback === 1);
		expect(fromFallback.length).toBeGreaterThan(0);
		for (const l of fromFallback)
			expect(l.costUsd).toBeCloseTo((l.usage.inputTokens * 80) / 1e6, 12);
	});
});
