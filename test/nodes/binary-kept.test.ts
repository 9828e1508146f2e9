/**
 * Binary data travels with its item: an input item carrying a file in `binary.data` (a PDF)
 * leaves every node of the package with the same `binary`, untouched, and `pairedItem`
 * pointing at its own input — on every output the item can take.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import type { IBinaryData, IDataObject, INodeExecutionData } from 'n8n-workflow';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import { resetSharedFlow } from '../../core/call/limiter/in-process';
import { closeAllStores, openStore } from '../../core/ledger';
import type { Clock } from '../../core/types';
import { router as ledgerRouter } from '../../nodes/BatchLedger/actions/router';
import { router as prepareRouter } from '../../nodes/BatchPrepare/actions/router';
import { executeLlmBatchCall } from '../../nodes/LlmBatchCall/execute';
import { router as jobRouter } from '../../nodes/LlmBatchJob/actions/router';
import { executeRouteFailures } from '../../nodes/RouteFailures/execute';
import { executeValidateOutput } from '../../nodes/ValidateOutput/execute';
import { startSandbox, type Sandbox } from '../../sandbox/server';
import { itemError, result, T0 } from '../core/ledger/fixtures';
import { FakeClock } from '../helpers/fake-clock';
import { mockExecute, type MockOptions } from '../helpers/mock-execute';

/** A small PDF as n8n holds it in memory (base64 in `data`). */
function pdf(n: number): IBinaryData {
	const body = `%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n% invoice ${n}\n%%EOF\n`;
	return {
		data: Buffer.from(body).toString('base64'),
		mimeType: 'application/pdf',
		fileName: `invoice-${n}.pdf`,
		fileExtension: 'pdf',
		fileSize: `${body.length} B`,
	};
}

/** Input items 0..n-1, each with its own PDF. */
function withPdfs(jsons: IDataObject[]): INodeExecutionData[] {
	return jsons.map((json, i) => ({ json, binary: { data: pdf(i) } }));
}

/**
 * Every output item (of every output) whose input is item `i` carries input i's binary,
 * deep-equal and not a re-encoding; returns how many of the output items kept it.
 */
function kept(inputs: INodeExecutionData[], outputs: INodeExecutionData[][]): number {
	let n = 0;
	for (const item of outputs.flat()) {
		const paired = item.pairedItem as { item: number };
		if (typeof paired?.item !== 'number') continue;
		if (item.json.id !== inputs[paired.item].json.id) continue;
		const want = inputs[paired.item].binary;
		if (want !== undefined && JSON.stringify(item.binary) === JSON.stringify(want)) n++;
	}
	return n;
}

function all(outputs: INodeExecutionData[][]): number {
	return outputs.flat().length;
}

const CREDS = { llmBatchOpenAiApi: { apiKey: 'sk-test-SECRET', baseUrl: 'http://llm.test/v1' } };

/** Answers every chat completion; a prompt containing "bad" gets a 400. */
const chatFetch = (async (_url: string, init: RequestInit) => {
	const body = JSON.parse(String(init.body)) as { messages: Array<{ content: string }> };
	const text = body.messages[body.messages.length - 1].content;
	if (text.includes('bad'))
		return new Response(JSON.stringify({ error: { message: 'bad request', type: 'x' } }), {
			status: 400,
			headers: { 'content-type': 'application/json' },
		});
	return new Response(
		JSON.stringify({
			id: 'c1',
			object: 'chat.completion',
			created: 0,
			model: 'gpt-4o-mini',
			choices: [{ index: 0, message: { role: 'assistant', content: 'ok' }, finish_reason: 'stop' }],
			usage: { prompt_tokens: 12, completion_tokens: 3, total_tokens: 15 },
		}),
		{ status: 200, headers: { 'content-type': 'application/json' } },
	);
}) as unknown as typeof fetch;

const byJson =
	(field: string) =>
	(_i: number, item: { json: Record<string, unknown> }): unknown =>
		item.json[field];

describe('binary data travels with its item', () => {
	beforeEach(() => resetSharedFlow());

	it.each(['all', 'result'])(
		'LLM Batch Call: Success and Failed items keep their file (output fields: %s)',
		async (outputFields) => {
			const inputs = withPdfs([
				{ id: 'a', text: 'first' },
				{ id: 'b', text: 'bad one' },
				{ id: 'c', text: '' },
			]);
			const m = mockExecute({
				inputs: [inputs],
				credentials: CREDS,
				parameters: {
					provider: 'openai',
					model: 'gpt-4o-mini',
					systemPrompt: 'Classify.',
					prompt: byJson('text'),
					recordId: byJson('id'),
					outputFormat: 'text',
					concurrency: 2,
					requestsPerMinute: 6000,
					tokensPerMinute: 1_000_000,
					resultField: 'llm',
					ledgerStore: 'none',
					options: { progressIntervalSeconds: 0, outputFields, maxAttempts: 1 },
				},
			});
			const out = await executeLlmBatchCall(m.fns, {
				fetch: chatFetch,
				clock: new FakeClock(Date.parse('2026-01-01T00:00:00Z')),
			});
			expect(out.map((o) => o.map((i) => i.pairedItem))).toEqual([
				[{ item: 0 }],
				[{ item: 1 }, { item: 2 }],
			]);
			// recordId stands in for the input's own fields when only the result is kept
			if (outputFields === 'result')
				for (const item of out.flat()) item.json.id ??= item.json.recordId;
			expect(kept(inputs, out)).toBe(3);
		},
	);

	it('Validate Output: Valid, Invalid and Review items keep their file', async () => {
		const inputs = withPdfs([
			{ id: 'a', llm: { output: { label: 'x', confidence: 0.9 } } },
			{ id: 'b', llm: { output: null, text: 'no json here' } },
			{ id: 'c', llm: { output: { label: 'y', confidence: 0.1 } } },
		]);
		const m = mockExecute({
			inputs: [inputs],
			parameters: {
				jsonSchema: JSON.stringify({ type: 'object', required: ['label'] }),
				useConfidence: true,
				confidencePath: 'confidence',
				confidenceThreshold: 0.5,
			},
		});
		const out = await executeValidateOutput(m.fns);
		expect(out.map((o) => o.length)).toEqual([1, 1, 1]);
		expect(kept(inputs, out)).toBe(3);
	});

	it('Route Failures: Retry, Dead Letter and Filtered items keep their file', async () => {
		const error = (code: string, retryable: boolean) => ({
			code,
			message: code,
			retryable,
			attempts: 1,
		});
		const inputs = withPdfs([
			{ id: 'a', error: error('server_error', true) },
			{ id: 'b', error: error('invalid_request', false) },
			{ id: 'c', error: error('content_filter', false) },
		]);
		const m = mockExecute({ inputs: [inputs], parameters: { maxRetries: 2 } });
		const out = await executeRouteFailures(m.fns, { clock: new FakeClock(0) });
		expect(out.map((o) => o.length)).toEqual([1, 1, 1]);
		expect(kept(inputs, out)).toBe(3);
	});

	it('Batch Prepare: Ready and Rejected items keep their file', async () => {
		const inputs = withPdfs([
			{ id: 'a', body: 'Invoice one' },
			{ id: 'b', body: '' },
			{ id: 'c', body: 'Invoice three' },
		]);
		const m = mockExecute({
			inputs: [inputs],
			parameters: {
				operation: 'prepare',
				recordIdSource: 'field',
				recordIdField: 'id',
				fieldRules: { rules: [{ field: 'body', required: true, type: 'string', minLength: 3 }] },
			},
		});
		const out = await prepareRouter(m.fns, { clock: new FakeClock(0), runId: () => 'run-x' });
		expect(out.map((o) => o.length)).toEqual([2, 1]);
		expect(kept(inputs, out)).toBe(3);
	});

	describe('Batch Ledger', () => {
		afterAll(async () => {
			await closeAllStores();
		});

		const ledgerRun = (path: string, inputs: INodeExecutionData[], params: IDataObject) =>
			ledgerRouter(
				mockExecute({
					inputs: [inputs],
					parameters: {
						ledgerStore: 'sqlite',
						ledgerSqlitePath: path,
						ledgerJob: 'job',
						recordId: byJson('id'),
						...params,
					},
				}).fns,
				{},
			);

		it('Skip Completed: To Do and Completed items keep their file', async () => {
			const path = join(mkdtempSync(join(tmpdir(), 'binary-ledger-')), 'ledger.sqlite');
			const store = openStore({ kind: 'sqlite', path });
			await store.init();
			await store.writeBatch('job', [{ type: 'succeeded', result: result('a', 'ha'), at: T0 }]);
			const inputs = withPdfs([
				{ id: 'a', text: 'A' },
				{ id: 'b', text: 'B' },
				{ id: 'c', text: 'C' },
			]);
			const out = await ledgerRun(path, inputs, { operation: 'skipCompleted' });
			expect(all(out)).toBe(3);
			expect(kept(inputs, out)).toBe(3);
		});

		it('Record Results: passed-through items keep their file', async () => {
			const path = join(mkdtempSync(join(tmpdir(), 'binary-ledger-')), 'ledger.sqlite');
			const inputs = withPdfs([
				{ id: 'a', llm: result('a', 'ha') as unknown as IDataObject },
				{ id: 'b', error: itemError() as unknown as IDataObject },
				{ id: 'c', llm: result('c', 'hc') as unknown as IDataObject },
			]);
			const out = await ledgerRun(path, inputs, { operation: 'recordResults' });
			expect(all(out)).toBe(3);
			expect(kept(inputs, out)).toBe(3);
		});
	});

	describe('LLM Batch Job', () => {
		let sandbox: Sandbox;
		const t = Date.parse('2026-01-01T02:00:00Z');
		const clock: Clock = { now: () => t, sleep: async () => undefined, random: () => 0.5 };
		beforeAll(async () => {
			sandbox = await startSandbox({ now: () => t, batch: { processingMs: 0 } });
		});
		afterAll(async () => {
			await sandbox.close();
		});

		function jobRun(operation: string, ledger: string, over: Partial<MockOptions>) {
			const m = mockExecute({
				credentials: {
					llmBatchOpenAiApi: { apiKey: 'sk-test-SECRET', baseUrl: `${sandbox.url}/v1` },
				},
				parameters: {
					operation,
					provider: 'openai',
					jobName: 'invoices',
					ledgerStore: 'sqlite',
					ledgerSqlitePath: ledger,
					model: 'gpt-4o-mini',
					systemPrompt: 'Classify.',
					prompt: byJson('text'),
					recordId: byJson('id'),
					outputFormat: 'text',
					resultField: 'llm',
					options: {},
				},
				...over,
			});
			return jobRouter(m.fns, { clock });
		}

		it('Submit: Failed items (bad input, a duplicate ID) keep their file', async () => {
			const ledger = join(mkdtempSync(join(tmpdir(), 'binary-job-')), 'ledger.sqlite');
			const inputs = withPdfs([
				{ id: 'a', text: 'Invoice one' },
				{ id: 'b', text: '' },
				{ id: 'a', text: 'Invoice one again' },
			]);
			const [, failed] = await jobRun('submit', ledger, { inputs: [inputs] });
			expect(failed.map((f) => f.pairedItem)).toEqual([{ item: 1 }, { item: 2 }]);
			expect(kept(inputs, [failed])).toBe(2);
		});

		it('Collect after a Submit of the same execution: Success items keep their file', async () => {
			const ledger = join(mkdtempSync(join(tmpdir(), 'binary-job-')), 'ledger.sqlite');
			const inputs = withPdfs([
				{ id: 'a', text: 'Invoice one' },
				{ id: 'b', text: 'Invoice two' },
				{ id: 'c', text: 'Invoice three' },
			]);
			const [batches] = await jobRun('submit', ledger, { inputs: [inputs] });
			expect(batches).toHaveLength(1);
			// What n8n's run data holds after Read Files -> Submit: Collect walks it back.
			const source = { previousNode: 'Read Files', previousNodeOutput: 0, previousNodeRun: 0 };
			const runData = {
				'Read Files': [{ data: { main: [inputs] }, source: [] }],
				Submit: [{ data: { main: [batches, []] }, source: [source] }],
			};
			const m = mockExecute({
				inputs: [batches],
				node: { name: 'Collect', type: 'n8n-nodes-llm-batch.llmBatchJob' },
				credentials: {
					llmBatchOpenAiApi: { apiKey: 'sk-test-SECRET', baseUrl: `${sandbox.url}/v1` },
				},
				parameters: {
					operation: 'collect',
					provider: 'openai',
					jobName: 'invoices',
					ledgerStore: 'sqlite',
					ledgerSqlitePath: ledger,
					resultField: 'llm',
					collectOptions: {},
				},
			});
			Object.assign(m.fns, {
				runExecutionData: { resultData: { runData } },
				getParentNodes: () => [
					{
						name: 'Submit',
						type: 'n8n-nodes-llm-batch.llmBatchJob',
						parameters: { operation: 'submit' },
					},
					{ name: 'Read Files', type: 'n8n-nodes-base.readWriteFile', parameters: {} },
				],
			});
			const [success, failed] = await jobRouter(m.fns, { clock });
			expect(success.length + failed.length).toBe(3);
			// Paired with Submit's input item of the record: its own file comes back with it.
			const own = success.map((s) => {
				const paths = [s.pairedItem].flat() as Array<{ item: number }>;
				return { id: s.json.id, item: paths[0].item, binary: s.binary };
			});
			expect(own.sort((x, y) => x.item - y.item)).toEqual(
				inputs.map((input, i) => ({ id: input.json.id, item: i, binary: input.binary })),
			);
		});
	});
});
