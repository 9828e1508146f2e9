import { NodeOperationError } from 'n8n-workflow';
import { beforeEach, describe, expect, it } from 'vitest';

import { resetSharedFlow } from '../../core/call/limiter/in-process';
import { executeLlmBatchCall } from '../../nodes/LlmBatchCall/execute';
import { startSandbox } from '../../sandbox/server';
import { RecordingClock } from '../helpers/recording-clock';
import { mockExecute, type MockOptions } from '../helpers/mock-execute';

function params(extra: Record<string, unknown> = {}): MockOptions['parameters'] {
	return {
		provider: 'openai',
		model: 'gpt-4o-mini',
		prompt: (_i: number, item: { json: Record<string, unknown> }) => item.json.text,
		recordId: (_i: number, item: { json: Record<string, unknown> }) => item.json.id,
		outputFormat: 'text',
		concurrency: 4,
		requestsPerMinute: 6000,
		tokensPerMinute: 1_000_000,
		resultField: 'llm',
		ledgerStore: 'none',
		options: { progressIntervalSeconds: 0 },
		...extra,
	};
}

const items = Array.from({ length: 20 }, (_, i) => ({ id: `r${i}`, text: `ticket ${i}` }));

describe('LLM Batch Call fails fast on a configuration that cannot work', () => {
	beforeEach(() => resetSharedFlow());

	it('a Base URL without /v1 (404): one request, then a configuration error naming it', async () => {
		const sb = await startSandbox();
		try {
			const m = mockExecute({
				items,
				parameters: params(),
				credentials: { llmBatchOpenAiApi: { apiKey: 'k', baseUrl: sb.url } },
			});
			const err = await executeLlmBatchCall(m.fns).catch((e: unknown) => e);
			expect(err).toBeInstanceOf(NodeOperationError);
			expect((err as Error).message).toMatch(
				/Configuration error: The endpoint was not found \(404\)/,
			);
			expect((err as NodeOperationError).description).toMatch(/Parameter: Base URL \(credential\)/);
			expect((err as NodeOperationError).description).toMatch(/\/v1/);
			expect(sb.stats().requests).toBe(0); // the 404 route is not an LLM call
		} finally {
			await sb.close();
		}
	});

	it('an unknown model: one request, then a configuration error naming Model', async () => {
		const sb = await startSandbox({ strictModels: true });
		try {
			const m = mockExecute({
				items,
				parameters: params({ model: 'gpt-9-turbo' }),
				credentials: { llmBatchOpenAiApi: { apiKey: 'k', baseUrl: `${sb.url}/v1` } },
			});
			const err = await executeLlmBatchCall(m.fns).catch((e: unknown) => e);
			expect(err).toBeInstanceOf(NodeOperationError);
			expect((err as Error).message).toContain('does not know the model "gpt-9-turbo"');
			expect((err as NodeOperationError).description).toMatch(/^Parameter: Model\./);
			expect(sb.stats().requests).toBe(1);
		} finally {
			await sb.close();
		}
	});

	it('a closed port: a configuration error at once, not minutes of retries', async () => {
		const sb = await startSandbox();
		const url = `${sb.url}/v1`;
		await sb.close();
		const m = mockExecute({
			items,
			parameters: params(),
			credentials: { llmBatchOpenAiApi: { apiKey: 'k', baseUrl: url } },
		});
		const clock = new RecordingClock();
		const err = await executeLlmBatchCall(m.fns, { clock }).catch((e: unknown) => e);
		expect(err).toBeInstanceOf(NodeOperationError);
		expect((err as Error).message).toMatch(
			/Could not connect to the Base URL .*: the connection was refused/,
		);
		// No retry backoff was waited: the refusal is a configuration error at once.
		expect(clock.sleeps).toEqual([]);
	});

	it('Tokens per Minute below one request is a configuration error before any call', async () => {
		const sb = await startSandbox();
		try {
			const m = mockExecute({
				items,
				parameters: params({
					tokensPerMinute: 100,
					options: { maxTokens: 500, progressIntervalSeconds: 0 },
				}),
				credentials: { llmBatchOpenAiApi: { apiKey: 'k', baseUrl: `${sb.url}/v1` } },
			});
			const err = await executeLlmBatchCall(m.fns).catch((e: unknown) => e);
			expect(err).toBeInstanceOf(NodeOperationError);
			expect((err as Error).message).toMatch(
				/Tokens per Minute \(100\) is smaller than one request/,
			);
			expect((err as NodeOperationError).description).toMatch(/^Parameter: Tokens per Minute\./);
			expect(sb.stats().requests).toBe(0);
		} finally {
			await sb.close();
		}
	});
});

describe('LLM Batch Call under the retry-after-hour profile', () => {
	beforeEach(() => resetSharedFlow());

	it('an hour-long Retry-After fails only its own item, naming the wait; nothing stalls', async () => {
		const sb = await startSandbox({ profile: 'retry-after-hour', seed: 3 });
		try {
			const input = Array.from({ length: 200 }, (_, i) => ({ id: `r${i}`, text: `ticket ${i}` }));
			const m = mockExecute({
				items: input,
				parameters: params({ tokensPerMinute: 100_000_000 }),
				credentials: { llmBatchOpenAiApi: { apiKey: 'k', baseUrl: `${sb.url}/v1` } },
			});
			const clock = new RecordingClock();
			const [success, failed] = await executeLlmBatchCall(m.fns, { clock });
			// Nothing waited for the hour: no single wait reached a minute.
			expect(clock.longestSleep).toBeLessThan(60_000);
			const limited = sb.stats().faults.status429;
			expect(limited).toBeGreaterThan(0);
			expect(failed).toHaveLength(limited);
			expect(success).toHaveLength(200 - limited);
			for (const it of failed) {
				const err = it.json.error as { code: string; message: string; attempts: number };
				expect(err.code).toBe('rate_limited');
				expect(err.message).toMatch(
					/asked to wait 60 min \(Retry-After\), longer than Max Retry-After \(60 s\)/,
				);
			}
		} finally {
			await sb.close();
		}
	});
});
