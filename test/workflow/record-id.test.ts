/**
 * The Record ID parameter in real workflows (n8n's own expression evaluation): an expression
 * that throws or resolves to an object, a list, null or an empty string fails its item as
 * `invalid_input` naming Record ID and what it resolved to — never a silent prompt-hash ID —
 * and duplicate record IDs in the input are named in the node's hint. LLM Batch Call and
 * LLM Batch Job Submit read the parameter by the same rule (core/record-id.ts).
 */
import type { INode, INodeExecutionData } from 'n8n-workflow';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { closeAllStores } from '../../core/ledger';
import { startSandbox, type Sandbox } from '../../sandbox/server';
import { linearWorkflow, llmBatchCallStep } from '../../scripts/lib/workflow-builder';
import { runWorkflow, type WorkflowJson } from '../helpers/harness';

let sandbox: Sandbox;
beforeAll(async () => {
	sandbox = await startSandbox({ seed: 3 });
});
afterAll(async () => {
	await sandbox?.close();
	await closeAllStores();
});

const credentials = () => ({
	llmBatchOpenAiApi: { apiKey: 'k', baseUrl: `${sandbox.url}/v1` },
});

// Items 0, 5, 6: good IDs; 1: an object; 2: null; 3: ''; 4: a list; 7: an expression that throws.
const input: INodeExecutionData[] = [
	{ json: { id: 'r-1', text: 'record one' } },
	{ json: { id: { nested: 'x' }, text: 'record two' } },
	{ json: { id: null, text: 'record three' } },
	{ json: { id: '', text: 'record four' } },
	{ json: { id: ['a', 'b'], text: 'record five' } },
	{ json: { id: 'r-1', text: 'record six' } },
	{ json: { id: 'r-7', text: 'record seven' } },
	{ json: { text: 'record eight', throws: true } },
];
// Throws on the item whose `throws` is set (a node that does not exist: n8n raises an
// expression error; a plain JavaScript error inside an expression n8n turns into undefined).
const RECORD_ID = "={{ $json.throws ? $('No Such Node').item.json.id : $json.id }}";

const expectedFailures = [
	{ index: 1, what: 'resolved to an object ({"nested":"x"})' },
	{ index: 2, what: 'resolved to null' },
	{ index: 3, what: 'resolved to an empty string' },
	{ index: 4, what: 'resolved to a list (["a","b"])' },
	{ index: 7, what: 'could not be resolved' },
];

function checkFailed(failed: INodeExecutionData[]) {
	expect(failed.map((f) => (f.pairedItem as { item: number }).item)).toEqual(
		expectedFailures.map((f) => f.index),
	);
	for (const [k, f] of failed.entries()) {
		const error = f.json.error as { code: string; message: string; issues: unknown[] };
		expect(error.code).toBe('invalid_input');
		expect(error.message).toContain(`Record ID ${expectedFailures[k].what}`);
		expect(error.issues).toEqual([expect.objectContaining({ path: 'recordId', code: 'recordId' })]);
	}
}

describe('Record ID parameter', () => {
	it('LLM Batch Call: a broken Record ID fails its item naming the parameter; duplicates are named in the hint', async () => {
		sandbox.reset();
		const run = await runWorkflow(
			linearWorkflow(
				llmBatchCallStep({
					model: 'gpt-4o-mini',
					prompt: '={{ $json.text }}',
					recordId: RECORD_ID,
					outputFormat: 'text',
					requestsPerMinute: 100_000,
					tokensPerMinute: 100_000_000,
					options: { progressIntervalSeconds: 0 },
				}),
			),
			{ input, credentials: credentials() },
		);
		const success = run.items('LLM Batch Call', 0);
		const failed = run.items('LLM Batch Call', 1);
		console.log(
			`[record id, LLM Batch Call] success ${success.length} (${success.map((s) => (s.json.llm as { recordId: string }).recordId).join(', ')}), failed ${failed.length}`,
		);
		expect(success.map((s) => (s.json.llm as { recordId: string }).recordId)).toEqual([
			'r-1',
			'r-1',
			'r-7',
		]);
		checkFailed(failed);
		expect(sandbox.stats().requests).toBe(3);
		const hints = (run.hints['LLM Batch Call'] ?? []).map((h) => h.message);
		expect(hints).toContainEqual(
			expect.stringContaining(
				'Duplicate record IDs in the input: "r-1" (2×) — 1 ID shared by 2 items',
			),
		);
	});

	it('LLM Batch Job Submit: the same rule, and the duplicates in the hint', async () => {
		sandbox.batch.reset();
		const ledger = join(mkdtempSync(join(tmpdir(), 'record-id-')), 'ledger.sqlite');
		const node: INode = {
			id: 'job',
			name: 'LLM Batch Job',
			type: 'n8n-nodes-llm-batch.llmBatchJob',
			typeVersion: 1,
			position: [200, 0],
			parameters: {
				provider: 'openai',
				jobName: 'record-ids',
				ledgerStore: 'sqlite',
				ledgerSqlitePath: ledger,
				operation: 'submit',
				model: 'gpt-4o-mini',
				prompt: '={{ $json.text }}',
				recordId: RECORD_ID,
				outputFormat: 'text',
			},
			credentials: { llmBatchOpenAiApi: { id: '1', name: 'sandbox' } },
		};
		const wf: WorkflowJson = {
			nodes: [
				{
					id: 't',
					name: 'Start',
					type: 'n8n-nodes-base.manualTrigger',
					typeVersion: 1,
					position: [0, 0],
					parameters: {},
				},
				node,
			],
			connections: { Start: { main: [[{ node: 'LLM Batch Job', type: 'main', index: 0 }]] } },
		};
		const run = await runWorkflow(wf, { input, credentials: credentials() });
		const batches = run.items('LLM Batch Job', 0);
		const failed = run.items('LLM Batch Job', 1);
		console.log(
			`[record id, LLM Batch Job] batches ${JSON.stringify(batches.map((b) => b.json.requestCount))}, failed ${failed.map((f) => `${(f.pairedItem as { item: number }).item}:${(f.json.error as { code: string }).code}`).join(', ')}`,
		);
		expect(batches.map((b) => b.json.requestCount)).toEqual([2]);
		// The second "r-1" is the submit path's duplicate; the broken IDs are invalid_input.
		const invalid = failed.filter(
			(f) => (f.json.error as { code: string }).code === 'invalid_input',
		);
		checkFailed(invalid);
		expect(
			failed
				.filter((f) => (f.json.error as { code: string }).code === 'duplicate')
				.map((f) => (f.pairedItem as { item: number }).item),
		).toEqual([5]);
		const hints = (run.hints['LLM Batch Job'] ?? []).map((h) => h.message);
		expect(hints).toContainEqual(
			expect.stringContaining('Duplicate record IDs in the input: "r-1" (2×)'),
		);
	});
});
