/**
 * LLM Batch Call with Provider = Google Gemini against the sandbox's Gemini API: every item in
 * one output with its own answer and pairedItem, structured output parsed, each answer priced
 * by the one cost meter from Gemini's usage, a safety stop routed as content_filter, and the
 * credential named when it is missing.
 */
import { NodeOperationError } from 'n8n-workflow';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import { resetSharedFlow } from '../../core/call/limiter/in-process';
import { costUsd } from '../../core/cost';
import { executeLlmBatchCall } from '../../nodes/LlmBatchCall/execute';
import { expectedReply, startSandbox, type Sandbox } from '../../sandbox/server';
import { mockExecute, type MockOptions } from '../helpers/mock-execute';

const SCHEMA = {
	type: 'object',
	properties: {
		supplier: { type: 'string' },
		total: { type: 'number' },
		echo: { type: 'string' },
	},
	required: ['supplier', 'total', 'echo'],
};

const invoices = (n: number) =>
	Array.from({ length: n }, (_, i) => ({
		id: `INV-${i}`,
		text: `Invoice ${i} from supplier ${i % 3}${i === 4 ? ' [[sandbox:contentPolicy]]' : ''}`,
	}));

function params(extra: Record<string, unknown> = {}): MockOptions['parameters'] {
	return {
		provider: 'gemini',
		model: 'gemini-2.5-flash',
		systemPrompt: 'Extract the invoice fields.',
		prompt: (_i: number, item: { json: Record<string, unknown> }) => item.json.text,
		recordId: (_i: number, item: { json: Record<string, unknown> }) => item.json.id,
		outputFormat: 'json',
		jsonSchema: JSON.stringify(SCHEMA),
		concurrency: 4,
		requestsPerMinute: 60_000,
		tokensPerMinute: 100_000_000,
		resultField: 'llm',
		ledgerStore: 'none',
		options: { progressIntervalSeconds: 0 },
		...extra,
	};
}

describe('LLM Batch Call: Google Gemini (against the sandbox)', () => {
	let sandbox: Sandbox;
	beforeAll(async () => {
		sandbox = await startSandbox({ seed: 5 });
	});
	afterAll(async () => sandbox?.close());
	beforeEach(() => {
		resetSharedFlow();
		sandbox.reset();
	});

	it('answers every invoice with its own fields, priced from Gemini usage; a safety stop fails as content_filter', async () => {
		const input = invoices(12);
		const m = mockExecute({
			items: input,
			parameters: params(),
			credentials: { llmBatchGeminiApi: { apiKey: 'gk-SECRET-1', baseUrl: sandbox.url } },
		});
		const [success, failed] = await executeLlmBatchCall(m.fns);
		expect(success.length + failed.length).toBe(12);
		expect(success.map((s) => (s.pairedItem as { item: number }).item)).toEqual([
			0, 1, 2, 3, 5, 6, 7, 8, 9, 10, 11,
		]);
		for (const s of success) {
			const i = (s.pairedItem as { item: number }).item;
			const llm = s.json.llm as Record<string, unknown> & {
				usage: { inputTokens: number; outputTokens: number };
			};
			expect(s.json.id).toBe(`INV-${i}`);
			expect(llm).toMatchObject({
				recordId: `INV-${i}`,
				provider: 'gemini',
				model: 'gemini-2.5-flash',
				finishReason: 'stop',
				output: expectedReply({ prompt: input[i].text, schema: SCHEMA }).output,
				attempts: 1,
				cached: false,
			});
			expect(llm.costUsd).toBe(costUsd('gemini-2.5-flash', llm.usage));
		}
		expect(failed.map((f) => [(f.pairedItem as { item: number }).item, f.json.error])).toEqual([
			[
				4,
				expect.objectContaining({ code: 'content_filter', retryable: false, provider: 'gemini' }),
			],
		]);
		// The sandbox answered 12 and billed them; 11 are the answers on Success.
		const st = sandbox.stats();
		expect([st.accepted, st.paidSuccesses, st.faults.contentPolicy]).toEqual([12, 11, 1]);
		const answered = success.reduce(
			(n, s) => n + (s.json.llm as { usage: { outputTokens: number } }).usage.outputTokens,
			0,
		);
		const refusal = Math.ceil("I'm sorry, but I can't help with that request.".length / 4);
		expect(answered + refusal).toBe(st.outputTokens);
		expect(JSON.stringify([success, failed, m.hints, m.logs])).not.toContain('gk-SECRET-1');
	});

	it('Gemini as the fallback: an overloaded OpenAI primary hands its items to gemini-2.5-flash, each priced by its own model', async () => {
		sandbox.configure({ modelFaults: { 'gpt-4o-mini': { status503: 1 } } });
		try {
			const input = invoices(6).filter((_, i) => i !== 4);
			const m = mockExecute({
				items: input,
				parameters: params({
					provider: 'openai',
					model: 'gpt-4o-mini',
					fallbackProvider: 'gemini',
					fallbackModels: 'gemini-2.5-flash',
				}),
				credentials: {
					llmBatchOpenAiApi: { apiKey: 'k', baseUrl: `${sandbox.url}/v1` },
					llmBatchFallbackApi: { apiKey: 'gk-fallback', baseUrl: sandbox.url },
				},
			});
			const [success, failed] = await executeLlmBatchCall(m.fns);
			expect(failed).toEqual([]);
			expect(
				success.map((s) => {
					const llm = s.json.llm as Record<string, unknown> & {
						usage: { inputTokens: number; outputTokens: number };
					};
					expect(llm.costUsd).toBe(costUsd('gemini-2.5-flash', llm.usage));
					return [llm.recordId, llm.provider, llm.model, llm.fallback];
				}),
			).toEqual(input.map((i) => [i.id, 'gemini', 'gemini-2.5-flash', 1]));
		} finally {
			sandbox.configure({ modelFaults: {} });
		}
	});

	it('a missing Gemini credential is a NodeOperationError naming it, before any call', async () => {
		const m = mockExecute({ items: invoices(2), parameters: params(), credentials: {} });
		const error = await executeLlmBatchCall(m.fns).then(
			() => undefined,
			(e: unknown) => e,
		);
		expect(error).toBeInstanceOf(NodeOperationError);
		expect((error as NodeOperationError).description).toContain('LLM Batch: Google Gemini API');
		expect(sandbox.stats().requests).toBe(0);
	});
});
