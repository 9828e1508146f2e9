/**
 * Files travel with their records through a real execution: Read Files (three PDFs in
 * `binary.data`) → Submit → Wait → Collect → every Collect item carries its own record's PDF,
 * untouched, on Success — n8n's run data, as WorkflowExecute builds it, is where Collect finds it.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import type { IExecuteFunctions, INode, INodeExecutionData, INodeType } from 'n8n-workflow';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { closeAllStores } from '../../core/ledger';
import { startSandbox, type Sandbox } from '../../sandbox/server';
import { PassThroughNode, runWorkflow, workflowNode } from '../helpers/harness';
import { tinyPdfBinary as pdf } from '../helpers/pdf';

const N = 3;

/** Read Files as n8n's is: one item per file, the file in `binary.data`. */
class ReadFiles extends PassThroughNode {
	async execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
		return [
			Array.from({ length: N }, (_, i) => ({
				json: { id: `INV-${i}`, text: `Invoice ${i}: total ${i * 10} EUR` },
				binary: { data: pdf(i) },
				pairedItem: { item: 0 },
			})),
		];
	}
}

/** Wait as n8n's is: each item out paired with the same item in. */
class WaitStub extends PassThroughNode {
	async execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
		return [this.getInputData().map((item, i) => ({ json: item.json, pairedItem: { item: i } }))];
	}
}

const extraNodeTypes: Record<string, INodeType> = {
	'test.readFiles': new ReadFiles(),
	'test.wait': new WaitStub(),
};

let sandbox: Sandbox;
const t = Date.parse('2026-01-01T02:00:00Z');
beforeAll(async () => {
	sandbox = await startSandbox({ now: () => t, batch: { processingMs: 0 } });
});
afterAll(async () => {
	await sandbox?.close();
	await closeAllStores();
});

const node = workflowNode;

describe('binary data in a real execution', () => {
	it('Submit → Wait → Collect: every collected record keeps its own PDF', async () => {
		const ledger = join(mkdtempSync(join(tmpdir(), 'binary-collect-')), 'ledger.sqlite');
		const job = (operation: 'submit' | 'collect', extra: object = {}): INode => ({
			...node(operation === 'submit' ? 'Submit' : 'Collect', 'n8n-nodes-llm-batch.llmBatchJob', 0, {
				operation,
				provider: 'openai',
				jobName: 'invoices',
				ledgerStore: 'sqlite',
				ledgerSqlitePath: ledger,
				...extra,
			}),
			credentials: { llmBatchOpenAiApi: { id: '1', name: 'sandbox' } },
		});
		const main = (to: string) => ({ main: [[{ node: to, type: 'main' as const, index: 0 }]] });
		const wf = {
			nodes: [
				node('Start', 'n8n-nodes-base.manualTrigger', 0),
				node('Read Files', 'test.readFiles', 100),
				job('submit', {
					model: 'gpt-4o-mini',
					prompt: '={{ $json.text }}',
					recordId: '={{ $json.id }}',
					outputFormat: 'text',
				}),
				node('Wait', 'test.wait', 300),
				job('collect'),
			],
			connections: {
				Start: main('Read Files'),
				'Read Files': main('Submit'),
				Submit: main('Wait'),
				Wait: main('Collect'),
			},
		};
		const r = await runWorkflow(wf, {
			extraNodeTypes,
			credentials: { llmBatchOpenAiApi: { apiKey: 'sk-test', baseUrl: `${sandbox.url}/v1` } },
		});
		expect(r.run.data.resultData.error?.message).toBeUndefined();
		const collected = r.items('Collect', 0);
		expect(collected).toHaveLength(N);
		const kept = collected.map((item) => ({
			id: item.json.id,
			binary: item.binary,
		}));
		kept.sort((a, b) => String(a.id).localeCompare(String(b.id)));
		expect(kept).toEqual(
			Array.from({ length: N }, (_, i) => ({ id: `INV-${i}`, binary: { data: pdf(i) } })),
		);
	});
});
