/**
 * Batch Ledger in a real workflow (WorkflowExecute): Skip Completed in front of LLM Batch
 * Call, with the ledger on. The second run of the same workflow sends nothing: every record
 * leaves Skip Completed on Completed with its stored result.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { closeAllStores } from '../../core/ledger';
import { expectedReply, startSandbox, type Sandbox } from '../../sandbox/server';
import { linearWorkflow, llmBatchCallStep } from '../../scripts/lib/workflow-builder';
import { runWorkflow, type WorkflowJson } from '../helpers/harness';

function workflow(ledgerPath: string): WorkflowJson {
	const ledger = { ledgerStore: 'sqlite', ledgerSqlitePath: ledgerPath, ledgerJob: 'wf-job' };
	return linearWorkflow(
		{
			name: 'Skip Completed',
			type: 'batchLedger',
			parameters: { operation: 'skipCompleted', recordId: '={{ $json.id }}', ...ledger },
			outputs: 2,
		},
		llmBatchCallStep({
			model: 'gpt-4o-mini',
			systemPrompt: 'Summarise.',
			prompt: '={{ $json.text }}',
			recordId: '={{ $json.id }}',
			outputFormat: 'text',
			concurrency: 4,
			requestsPerMinute: 100_000,
			tokensPerMinute: 100_000_000,
			options: { progressIntervalSeconds: 0 },
			...ledger,
		}),
		{ name: 'Job Stats', type: 'batchLedger', parameters: { operation: 'stats', ...ledger } },
	);
}

const records = (n: number) =>
	Array.from({ length: n }, (_, i) => ({ json: { id: `W${i}`, text: `Workflow record ${i}` } }));

describe('Batch Ledger in a workflow', () => {
	let sandbox: Sandbox;
	beforeAll(async () => {
		sandbox = await startSandbox({ seed: 11 });
	});
	afterAll(async () => {
		await sandbox?.close();
		await closeAllStores();
	});

	it('the second run skips every completed record and calls nothing', async () => {
		const ledgerPath = join(mkdtempSync(join(tmpdir(), 'ledger-wf-')), 'ledger.sqlite');
		const credentials = { llmBatchOpenAiApi: { apiKey: 'k', baseUrl: `${sandbox.url}/v1` } };
		const input = records(20);

		sandbox.reset();
		const first = await runWorkflow(workflow(ledgerPath), { input, credentials });
		expect(first.run.status).toBe('success');
		expect(first.items('Skip Completed', 0)).toHaveLength(20);
		expect(first.items('Skip Completed', 1)).toHaveLength(0);
		expect(first.items('LLM Batch Call', 0)).toHaveLength(20);
		expect(sandbox.stats().paidSuccesses).toBe(20);
		expect(first.items('Job Stats', 0).map((i) => i.json)).toMatchObject([
			{ job: 'wf-job', total: 20, succeeded: 20, pending: 0 },
		]);

		sandbox.reset();
		const second = await runWorkflow(workflow(ledgerPath), { input, credentials });
		expect(second.run.status).toBe('success');
		expect(second.items('Skip Completed', 0)).toEqual([]);
		const completed = second.items('Skip Completed', 1);
		expect(completed.map((i) => (i.pairedItem as { item: number }).item)).toEqual([
			...Array(20).keys(),
		]);
		for (const item of completed) {
			const i = (item.pairedItem as { item: number }).item;
			const llm = item.json.llm as { recordId: string; text: string };
			expect(llm.recordId).toBe(`W${i}`);
			expect(llm.text).toBe(expectedReply({ prompt: `Workflow record ${i}` }).text);
		}
		expect(sandbox.stats().requests).toBe(0);
	});
});
