/**
 * LLM Batch Job in real workflows (WorkflowExecute): Submit and Collect run as two
 * executions sharing a SQLite ledger, against the sandbox's batch APIs on a fake clock.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { INode, INodeExecutionData } from 'n8n-workflow';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { costUsd } from '../../core/cost';
import { expectedReply, startSandbox, type Sandbox } from '../../sandbox/server';
import { runWorkflow, type WorkflowJson } from '../helpers/harness';

const SCHEMA = {
	type: 'object',
	properties: {
		category: { type: 'string', enum: ['billing', 'bug', 'feature', 'other'] },
		echo: { type: 'string' },
	},
	required: ['category', 'echo'],
};
const MODEL = { openai: 'gpt-4o-mini', anthropic: 'claude-3-5-haiku-latest' } as const;
type P = keyof typeof MODEL;

let sandbox: Sandbox;
let t = Date.parse('2026-01-01T02:00:00Z');

beforeAll(async () => {
	sandbox = await startSandbox({ now: () => t });
});
afterAll(async () => sandbox?.close());

const credentials = () => ({
	llmBatchOpenAiApi: { apiKey: 'sandbox-key', baseUrl: `${sandbox.url}/v1` },
	llmBatchAnthropicApi: { apiKey: 'sandbox-key', baseUrl: sandbox.url },
});

const trigger: INode = {
	id: 't',
	name: 'Start',
	type: 'n8n-nodes-base.manualTrigger',
	typeVersion: 1,
	position: [0, 0],
	parameters: {},
};

function jobNode(provider: P, ledger: string, parameters: Record<string, unknown>): INode {
	return {
		id: 'job',
		name: 'LLM Batch Job',
		type: 'n8n-nodes-llm-batch.llmBatchJob',
		typeVersion: 1,
		position: [200, 0],
		parameters: {
			provider,
			jobName: 'nightly',
			ledgerStore: 'sqlite',
			ledgerSqlitePath: ledger,
			...parameters,
		},
		credentials:
			provider === 'openai'
				? { llmBatchOpenAiApi: { id: '1', name: 'sandbox' } }
				: { llmBatchAnthropicApi: { id: '2', name: 'sandbox' } },
	};
}

const submitParams = (provider: P, batchSize = 0) => ({
	operation: 'submit',
	model: MODEL[provider],
	systemPrompt: 'Classify the support ticket.',
	prompt: '={{ $json.text }}',
	recordId: '={{ $json.id }}',
	outputFormat: 'json',
	jsonSchema: JSON.stringify(SCHEMA),
	options: { batchSize, maxTokens: 100 },
});

function single(node: INode): WorkflowJson {
	return {
		nodes: [trigger, node],
		connections: { Start: { main: [[{ node: node.name, type: 'main', index: 0 }]] } },
	};
}

const tickets = (n: number): INodeExecutionData[] =>
	Array.from({ length: n }, (_, i) => ({
		json: {
			id: `T${String(i).padStart(5, '0')}`,
			text: `Ticket ${i}: my invoice ${i * 7} is wrong`,
		},
	}));

function newLedger(): string {
	return join(mkdtempSync(join(tmpdir(), 'llm-batch-job-wf-')), 'ledger.sqlite');
}

describe.each(['openai', 'anthropic'] as const)('LLM Batch Job workflows: %s', (provider) => {
	it('10,000 records: submitted and collected in separate executions, each in exactly one output with its own answer, batches = ceil(records / cap); Submit and Collect twice add nothing', async () => {
		const cap = 3000;
		sandbox.batch.reset();
		sandbox.batch.configure({
			processingMs: 3_600_000,
			expiresAfterMs: 86_400_000,
			caps: { [provider]: { maxRequests: cap, maxBytes: 50 * 1024 * 1024 } },
		});
		const ledger = newLedger();
		const input = tickets(10_000);
		const submit = single(jobNode(provider, ledger, submitParams(provider, cap)));

		const first = await runWorkflow(submit, { input, credentials: credentials() });
		expect(first.run.status).toBe('success');
		const batches = first.items('LLM Batch Job', 0);
		expect(batches.map((b) => b.json.requestCount)).toEqual([3000, 3000, 3000, 1000]);
		expect(batches.length).toBe(Math.ceil(10_000 / cap));
		expect(first.items('LLM Batch Job', 1)).toEqual([]);
		expect(sandbox.batch.stats().capRejections).toBe(0);

		// Submit again while the batches run: nothing is sent again.
		const again = await runWorkflow(submit, { input, credentials: credentials() });
		expect(again.items('LLM Batch Job', 0).map((b) => b.json)).toEqual([
			{
				job: 'nightly',
				batchId: null,
				skipped: 10_000,
				alreadySucceeded: 0,
				inLiveBatch: 10_000,
				awaitingCreate: 0,
				notRetryable: 0,
				overLimit: 0,
			},
		]);

		const status = single(jobNode(provider, ledger, { operation: 'status' }));
		expect(
			(await runWorkflow(status, { credentials: credentials() })).items('LLM Batch Job', 0)[0].json,
		).toMatchObject({
			batches: 4,
			allEnded: false,
		});
		t += 3_600_000;
		expect(
			(await runWorkflow(status, { credentials: credentials() })).items('LLM Batch Job', 0)[0].json,
		).toMatchObject({
			batches: 4,
			ended: 4,
			allEnded: true,
		});

		const collect = single(jobNode(provider, ledger, { operation: 'collect' }));
		const got = await runWorkflow(collect, { credentials: credentials() });
		expect(got.run.status).toBe('success');
		const success = got.items('LLM Batch Job', 0);
		expect(got.items('LLM Batch Job', 1)).toEqual([]);
		expect(success).toHaveLength(10_000);
		expect(new Set(success.map((s) => s.json.id)).size).toBe(10_000);
		let batchCost = 0;
		let realtimeCost = 0;
		for (const s of success) {
			const llm = s.json.llm as {
				recordId: string;
				output: unknown;
				usage: { inputTokens: number; outputTokens: number };
				costUsd: number;
				model: string;
			};
			expect(llm.recordId).toBe(s.json.id);
			expect(llm.output).toEqual(
				expectedReply({ prompt: String(s.json.text), schema: SCHEMA }).output,
			);
			batchCost += llm.costUsd;
			realtimeCost += costUsd(llm.model, llm.usage)!;
		}
		expect(batchCost / realtimeCost).toBeCloseTo(0.5, 4);

		// Collect and Submit once more: 0 duplicates, 0 records resubmitted.
		const twice = await runWorkflow(collect, { credentials: credentials() });
		expect([
			twice.items('LLM Batch Job', 0).length,
			twice.items('LLM Batch Job', 1).length,
		]).toEqual([0, 0]);
		const third = await runWorkflow(submit, { input, credentials: credentials() });
		expect(third.items('LLM Batch Job', 0).map((b) => b.json.batchId)).toEqual([null]);
		const stats = sandbox.batch.stats();
		expect(stats.requestsReceived).toBe(10_000);
		expect([...stats.received.values()].every((n) => n === 1)).toBe(true);
		sandbox.batch.configure({
			caps: {
				[provider]:
					provider === 'openai'
						? { maxRequests: 50_000, maxBytes: 200 * 1024 * 1024 }
						: { maxRequests: 100_000, maxBytes: 256 * 1024 * 1024 },
			},
		});
	});

	it('a batch that expires with 60 % done: the 60 % on Success, the rest Failed expired; Route Failures sends them through LLM Batch Call, which completes them; the Batch Report shows batch vs realtime cost', async () => {
		sandbox.batch.reset();
		sandbox.batch.configure({ processingMs: 100_000, expiresAfterMs: 60_000 });
		const ledger = newLedger();
		const input = tickets(1000);
		await runWorkflow(single(jobNode(provider, ledger, submitParams(provider))), {
			input,
			credentials: credentials(),
		});
		t += 60_000;
		sandbox.batch.configure({ expiresAfterMs: 86_400_000 });

		const collect = jobNode(provider, ledger, { operation: 'collect' });
		const route: INode = {
			id: 'route',
			name: 'Route Failures',
			type: 'n8n-nodes-llm-batch.routeFailures',
			typeVersion: 1,
			position: [400, 100],
			parameters: { maxRetries: 1, retryCodes: ['expired', 'canceled', 'server_error'] },
		};
		const realtime: INode = {
			id: 'call',
			name: 'LLM Batch Call',
			type: 'n8n-nodes-llm-batch.llmBatchCall',
			typeVersion: 1,
			position: [600, 100],
			parameters: {
				provider,
				model: MODEL[provider],
				systemPrompt: 'Classify the support ticket.',
				prompt: '={{ $json.text }}',
				recordId: '={{ $json.id }}',
				outputFormat: 'json',
				jsonSchema: JSON.stringify(SCHEMA),
				concurrency: 16,
				requestsPerMinute: 600_000,
				tokensPerMinute: 100_000_000,
				ledgerStore: 'sqlite',
				ledgerJob: 'nightly',
				ledgerSqlitePath: ledger,
				options: { maxTokens: 100, progressIntervalSeconds: 0 },
			},
			credentials: collect.credentials,
		};
		const report: INode = {
			id: 'report',
			name: 'Batch Report',
			type: 'n8n-nodes-llm-batch.batchReport',
			typeVersion: 1,
			position: [800, 0],
			parameters: { emitWhen: 'eachRun' },
		};
		const wf: WorkflowJson = {
			nodes: [trigger, collect, route, realtime, report],
			connections: {
				Start: { main: [[{ node: 'LLM Batch Job', type: 'main', index: 0 }]] },
				'LLM Batch Job': {
					main: [
						[{ node: 'Batch Report', type: 'main', index: 0 }],
						[{ node: 'Route Failures', type: 'main', index: 0 }],
					],
				},
				'Route Failures': { main: [[{ node: 'LLM Batch Call', type: 'main', index: 0 }], [], []] },
			},
		};
		const got = await runWorkflow(wf, { credentials: credentials() });
		expect(got.run.data.resultData.error?.message).toBeUndefined();
		expect(got.run.status).toBe('success');
		const success = got.items('LLM Batch Job', 0);
		const failed = got.items('LLM Batch Job', 1);
		expect(success).toHaveLength(600);
		expect(failed).toHaveLength(400);
		expect(
			failed.every(
				(f) => (f.json.error as { code: string; retryable: boolean }).code === 'expired',
			),
		).toBe(true);
		const fallback = got.items('LLM Batch Call', 0);
		expect(got.items('LLM Batch Call', 1)).toEqual([]);
		expect(fallback).toHaveLength(400);
		const all = [...success, ...fallback];
		expect(new Set(all.map((s) => s.json.id)).size).toBe(1000);
		for (const s of all) {
			expect((s.json.llm as { output: unknown }).output).toEqual(
				expectedReply({ prompt: String(s.json.text), schema: SCHEMA }).output,
			);
		}
		// Same prompt, same tokens: the batch price is half the realtime price.
		const batchUsage = success[0].json.llm as {
			usage: { inputTokens: number; outputTokens: number };
			costUsd: number;
			model: string;
		};
		expect(batchUsage.costUsd).toBeCloseTo(costUsd(batchUsage.model, batchUsage.usage)! / 2, 12);

		const reports = got.items('Batch Report', 0);
		const last = reports[reports.length - 1].json as {
			batchApi: { items: number; costUsd: number; realtimeCostUsd: number };
		};
		expect(last.batchApi.items).toBe(600);
		expect(last.batchApi.costUsd / last.batchApi.realtimeCostUsd).toBeCloseTo(0.5, 4);
	});
});
