/**
 * At the node: configurations that would spend unseen or mark items wrongly fail
 * before any call (items 6, 12, 13), and the hint says when cost is unknown (item 6).
 */
import { NodeOperationError } from 'n8n-workflow';
import { beforeEach, describe, expect, it } from 'vitest';

import { resetSharedFlow } from '../../core/call/limiter/in-process';
import { executeLlmBatchCall } from '../../nodes/LlmBatchCall/execute';
import { FakeClock } from '../helpers/fake-clock';
import { mockExecute, type MockOptions } from '../helpers/mock-execute';

const CREDS = { llmBatchOpenAiApi: { apiKey: 'sk-test-SECRET', baseUrl: 'http://llm.test/v1' } };

function countingFetch(content = 'fine') {
	let calls = 0;
	const fetchImpl = (async () => {
		calls++;
		return new Response(
			JSON.stringify({
				id: 'c1',
				object: 'chat.completion',
				created: 0,
				model: 'my-local-model',
				choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }],
				usage: { prompt_tokens: 12, completion_tokens: 3, total_tokens: 15 },
			}),
			{ status: 200, headers: { 'content-type': 'application/json' } },
		);
	}) as unknown as typeof fetch;
	return { fetchImpl, calls: () => calls };
}

function params(extra: Record<string, unknown> = {}): MockOptions['parameters'] {
	return {
		provider: 'openai',
		model: 'my-local-model',
		prompt: (_i: number, item: { json: Record<string, unknown> }) => item.json.text,
		recordId: (_i: number, item: { json: Record<string, unknown> }) => item.json.id,
		outputFormat: 'text',
		concurrency: 2,
		requestsPerMinute: 6000,
		tokensPerMinute: 1_000_000,
		resultField: 'llm',
		ledgerStore: 'none',
		...extra,
		options: { progressIntervalSeconds: 0, ...(extra.options as object) },
	};
}

const items = (n: number) => Array.from({ length: n }, (_, i) => ({ id: `r${i}`, text: `q${i}` }));

async function run(extra: Record<string, unknown>, content?: string) {
	const f = countingFetch(content);
	const m = mockExecute({ items: items(5), parameters: params(extra), credentials: CREDS });
	const out = executeLlmBatchCall(m.fns, {
		fetch: f.fetchImpl,
		clock: new FakeClock(Date.parse('2026-01-01T00:00:00Z')),
	});
	return { out, calls: f.calls, m };
}

describe('LLM Batch Call: configuration safety', () => {
	beforeEach(() => resetSharedFlow());

	it('a cost cap on a model without a known price is a configuration error, nothing sent', async () => {
		const { out, calls } = await run({ options: { maxCostUsd: 0.000001 } });
		await expect(out).rejects.toThrow(NodeOperationError);
		await expect(out).rejects.toThrow(/price of my-local-model is unknown/);
		expect(calls()).toBe(0);
	});

	it('with prices given the cap is enforced, and without a cap the hint says cost is unknown', async () => {
		const capped = await run({
			concurrency: 1,
			options: { maxCostUsd: 0.00003, maxTokens: 10, inputPricePer1M: 1, outputPricePer1M: 1 },
		});
		const [success, failed] = await capped.out;
		// 15 tokens at $1/1M = $0.000015 per answer; a request may cost up to its prompt and 10
		// output tokens (~$0.00002), reserved before it is sent: after the first answer the
		// next no longer fits under the cap.
		expect(success).toHaveLength(1);
		expect(failed.map((i) => (i.json.error as { code: string }).code)).toEqual(
			Array(4).fill('budget_exceeded'),
		);
		expect(capped.calls()).toBe(1);

		const uncapped = await run({});
		await uncapped.out;
		const hints = uncapped.m.hints.map((h) => h.message).join('\n');
		expect(hints).toMatch(/cost unknown: no price for my-local-model/);
	});
});

describe('LLM Batch Call: reserved names and schema typos', () => {
	beforeEach(() => resetSharedFlow());

	it('a reserved Result Field (error, __proto__, constructor, prototype, json …) is a configuration error', async () => {
		for (const name of [
			'error',
			'__proto__',
			'constructor',
			'prototype',
			'json',
			'pairedItem',
			'toString',
		]) {
			const { out, calls } = await run({ resultField: name });
			await expect(out).rejects.toThrow(NodeOperationError);
			await expect(out).rejects.toThrow(
				new RegExp(`Result Field "${name.replace(/_/g, '_')}" is reserved`),
			);
			expect(calls()).toBe(0);
		}
		// An ordinary name still works.
		const { out } = await run({ resultField: 'classification' });
		const [success] = await out;
		expect(success[0].json.classification).toMatchObject({ output: 'fine' });
	});

	it('a JSON Schema typo is a configuration error naming the keyword path, nothing sent', async () => {
		const { out, calls } = await run({
			outputFormat: 'json',
			jsonSchema: JSON.stringify({
				type: 'object',
				properties: { label: { type: 'string' } },
				requird: ['label'],
			}),
		});
		await expect(out).rejects.toThrow(/unknown keyword "requird" at \/requird/);
		expect(calls()).toBe(0);
	});
});
