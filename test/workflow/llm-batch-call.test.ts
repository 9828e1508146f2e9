import type { INodeParameters } from 'n8n-workflow';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { expectedReply, promptDigest, startSandbox, type Sandbox } from '../../sandbox/server';
import { linearWorkflow, llmBatchCallStep } from '../../scripts/lib/workflow-builder';
import { runWorkflow, type WorkflowJson } from '../helpers/harness';
import { resetSharedFlow } from '../../core/call/limiter/in-process';

const SCHEMA = {
	type: 'object',
	properties: {
		category: { type: 'string', enum: ['billing', 'bug', 'feature', 'other'] },
		confidence: { type: 'number', minimum: 0, maximum: 1 },
		echo: { type: 'string' },
	},
	required: ['category', 'confidence', 'echo'],
};

function workflow(sandboxParams: Record<string, unknown>): WorkflowJson {
	return linearWorkflow(
		llmBatchCallStep({
			model: 'gpt-4o-mini',
			systemPrompt: 'Classify the support ticket.',
			prompt: '={{ $json.text }}',
			recordId: '={{ $json.id }}',
			outputFormat: 'json',
			jsonSchema: JSON.stringify(SCHEMA),
			...sandboxParams,
		} as INodeParameters),
	);
}

const tickets = (n: number) =>
	Array.from({ length: n }, (_, i) => ({
		json: {
			id: `T${String(i).padStart(5, '0')}`,
			text: `Ticket ${i}: my invoice ${i * 7} is wrong`,
		},
	}));

describe('LLM Batch Call in a real workflow (WorkflowExecute) against the sandbox', () => {
	let sandbox: Sandbox;
	beforeAll(async () => {
		sandbox = await startSandbox({ seed: 7, hangMs: 3000 });
	});
	afterAll(async () => sandbox?.close());

	it('1,000 items with faults on: every item in exactly one output, each result its own, limits kept', async () => {
		sandbox.configure({
			rpm: 30_000,
			tpm: 20_000_000,
			latencyMs: { min: 0, max: 5 },
			faults: {
				status500: 0.015,
				status503: 0.015,
				reset: 0.01,
				malformed: 0.01,
				truncated: 0.005,
				contentPolicy: 0.005,
				hang: 0.002,
			},
		});
		sandbox.reset();
		const input = tickets(1000);
		const concurrency = 16;
		const { items, run, hints } = await runWorkflow(
			workflow({
				concurrency,
				requestsPerMinute: 30_000,
				tokensPerMinute: 20_000_000,
				options: {
					timeoutSeconds: 1,
					maxAttempts: 6,
					circuitThreshold: 30,
					progressIntervalSeconds: 0,
				},
			}),
			{
				input,
				credentials: { llmBatchOpenAiApi: { apiKey: 'sandbox-key', baseUrl: `${sandbox.url}/v1` } },
			},
		);
		expect(run.status).toBe('success');
		const success = items('LLM Batch Call', 0);
		const failed = items('LLM Batch Call', 1);

		// exactly one output per item, paired to its input
		expect(success.length + failed.length).toBe(1000);
		const paired = [...success, ...failed]
			.map((it) => (it.pairedItem as { item: number }).item)
			.sort((a, b) => a - b);
		expect(paired).toEqual([...Array(1000).keys()]);

		// each success carries its own input's answer
		for (const it of success) {
			const i = (it.pairedItem as { item: number }).item;
			expect(it.json.id).toBe(input[i].json.id);
			const llm = it.json.llm as Record<string, unknown>;
			expect(llm.recordId).toBe(input[i].json.id);
			expect(llm.output).toEqual(
				expectedReply({ prompt: input[i].json.text, schema: SCHEMA }).output,
			);
			expect((llm.output as { echo: string }).echo).toBe(promptDigest(input[i].json.text));
		}
		// failures are only the ones no retry fixes here: content refusals (and rare exhausted budgets)
		for (const it of failed) {
			const err = it.json.error as { code: string; attempts: number };
			expect([
				'content_filter',
				'truncated',
				'timeout',
				'connection',
				'server_error',
				'malformed_output',
			]).toContain(err.code);
		}
		const filtered = failed.filter(
			(it) => (it.json.error as { code: string }).code === 'content_filter',
		).length;
		expect(filtered).toBeGreaterThan(0);
		expect(success.length).toBeGreaterThan(980);

		// the sandbox saw the limits kept
		const s = sandbox.stats();
		expect(s.maxInFlight).toBeLessThanOrEqual(concurrency);
		expect(s.maxRequestsPerWindow(60_000)).toBeLessThanOrEqual(30_000);
		expect(s.rateLimited).toBeLessThanOrEqual(s.requests * 0.01);
		expect(s.duplicateSuccesses).toBe(0);
		expect(s.paidSuccesses).toBe(success.length);
		expect(hints['LLM Batch Call']?.[0]?.message).toContain(
			`${success.length} of 1000 items succeeded`,
		);
	});

	it('configured 1.5x too high: learns the real limit from the rate-limit headers, no 429 storm', async () => {
		sandbox.configure({ rpm: 600, tpm: 10_000_000, latencyMs: { min: 0, max: 0 }, faults: {} });
		sandbox.reset();
		const { items } = await runWorkflow(
			workflow({
				concurrency: 8,
				requestsPerMinute: 900,
				tokensPerMinute: 10_000_000,
				options: { progressIntervalSeconds: 0 },
			}),
			{
				input: tickets(40),
				credentials: { llmBatchOpenAiApi: { apiKey: 'k', baseUrl: `${sandbox.url}/v1` } },
			},
		);
		expect(items('LLM Batch Call', 0)).toHaveLength(40);
		expect(items('LLM Batch Call', 1)).toHaveLength(0);
		const s = sandbox.stats();
		// only the first burst, before any answer carried the headers, can overshoot
		expect(s.rateLimited).toBeLessThanOrEqual(3);
		expect(s.maxRequestsPerWindow(1000)).toBeLessThanOrEqual(10 + 10);
	});

	it('keeps the RPM limit under a tight limit and waits out 429s instead of failing', async () => {
		sandbox.configure({
			rpm: 600,
			tpm: 10_000_000,
			latencyMs: { min: 0, max: 0 },
			faults: {},
			rateHeaders: false,
		});
		sandbox.reset();
		resetSharedFlow(); // forget the limit the previous test learned for this credential
		// the client is told a higher limit than the server enforces: 429s happen and are waited out
		const { items } = await runWorkflow(
			workflow({
				concurrency: 8,
				requestsPerMinute: 900,
				tokensPerMinute: 10_000_000,
				options: { progressIntervalSeconds: 0 },
			}),
			{
				input: tickets(40),
				credentials: { llmBatchOpenAiApi: { apiKey: 'k', baseUrl: `${sandbox.url}/v1` } },
			},
		);
		expect(items('LLM Batch Call', 0)).toHaveLength(40);
		expect(items('LLM Batch Call', 1)).toHaveLength(0);
		const s = sandbox.stats();
		expect(s.rateLimited).toBeGreaterThan(0);
		expect(s.maxRequestsPerWindow(1000)).toBeLessThanOrEqual(10 + 10);
		sandbox.configure({ rateHeaders: true });
	});

	it('speaks Anthropic messages: structured output through a forced tool, each result its own', async () => {
		sandbox.configure({
			rpm: Infinity,
			tpm: Infinity,
			latencyMs: { min: 0, max: 2 },
			faults: { status529: 0.03, reset: 0.01 },
		});
		sandbox.reset();
		const input = tickets(200);
		const wf = workflow({
			provider: 'anthropic',
			model: 'claude-3-5-haiku-latest',
			concurrency: 8,
			requestsPerMinute: 60_000,
			tokensPerMinute: 100_000_000,
			options: { progressIntervalSeconds: 0, maxAttempts: 8 },
		});
		wf.nodes[1].credentials = { llmBatchAnthropicApi: { id: '2', name: 'sandbox' } };
		const { items } = await runWorkflow(wf, {
			input,
			credentials: { llmBatchAnthropicApi: { apiKey: 'sk-ant-test', baseUrl: sandbox.url } },
		});
		const success = items('LLM Batch Call', 0);
		expect(items('LLM Batch Call', 1)).toEqual([]);
		expect(success).toHaveLength(200);
		for (const it of success) {
			const i = (it.pairedItem as { item: number }).item;
			const llm = it.json.llm as {
				output: unknown;
				provider: string;
				recordId: string;
				costUsd: number;
			};
			expect(llm).toMatchObject({ provider: 'anthropic', recordId: input[i].json.id });
			expect(llm.output).toEqual(
				expectedReply({ prompt: input[i].json.text, schema: SCHEMA }).output,
			);
			expect(llm.costUsd).toBeGreaterThan(0);
		}
		expect(sandbox.stats().faults.status529).toBeGreaterThan(0);
	});

	it('fails bad input per item and stops on a refused key without calling on', async () => {
		sandbox.configure({ rpm: Infinity, tpm: Infinity, faults: {}, apiKeys: ['good'] });
		sandbox.reset();
		const input = [
			{ json: { id: 'a', text: '' } },
			{ json: { id: 'b', text: 42 } },
			...tickets(30),
		];
		const { items } = await runWorkflow(
			workflow({ concurrency: 2, options: { progressIntervalSeconds: 0 } }),
			{
				input,
				credentials: {
					llmBatchOpenAiApi: { apiKey: 'sk-WRONG-key-123', baseUrl: `${sandbox.url}/v1` },
				},
			},
		);
		const failed = items('LLM Batch Call', 1);
		expect(items('LLM Batch Call', 0)).toHaveLength(0);
		expect(failed).toHaveLength(32);
		expect(failed[0].json.error).toMatchObject({
			code: 'invalid_input',
			message: expect.stringContaining('Prompt is empty'),
		});
		expect(failed[1].json.error).toMatchObject({
			code: 'invalid_input',
			message: expect.stringContaining('not text'),
		});
		expect(failed.slice(2).every((f) => (f.json.error as { code: string }).code === 'auth')).toBe(
			true,
		);
		expect(sandbox.stats().requests).toBeLessThanOrEqual(2);
		expect(JSON.stringify(failed)).not.toContain('sk-WRONG-key-123');
		sandbox.configure({ apiKeys: undefined });
	});
});
