/**
 * Files come back in a later execution, through n8n-core's own binary helpers: one execution
 * runs Read Files (three PDFs in `binary.data`) → Submit, another — a workflow of its own, no
 * run data of the first — runs Collect, and every Collect item carries its own record's PDF,
 * read from the ledger and handed to n8n's `prepareBinaryData`.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import type { IExecuteFunctions, INode, INodeExecutionData, INodeType } from 'n8n-workflow';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { closeAllStores } from '../../core/ledger';
import { startSandbox, type Sandbox } from '../../sandbox/server';
import { PassThroughNode, runWorkflow } from '../helpers/harness';

const N = 3;

function pdf(i: number) {
	const body = `%PDF-1.4\n% invoice ${i}\n%%EOF\n`;
	return {
		data: Buffer.from(body).toString('base64'),
		mimeType: 'application/pdf',
		fileName: `invoice-${i}.pdf`,
		fileExtension: 'pdf',
		fileSize: `${body.length} B`,
	};
}

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

const extraNodeTypes: Record<string, INodeType> = { 'test.readFiles': new ReadFiles() };

let sandbox: Sandbox;
const t = Date.parse('2026-01-01T02:00:00Z');
beforeAll(async () => {
	sandbox = await startSandbox({ now: () => t, batch: { processingMs: 0 } });
});
afterAll(async () => {
	await sandbox?.close();
	await closeAllStores();
});

const node = (name: string, type: string, x: number, parameters: object = {}): INode => ({
	id: name,
	name,
	type,
	typeVersion: 1,
	position: [x, 0],
	parameters: parameters as INode['parameters'],
});

describe('binary data in a later execution', () => {
	it('Read Files → Submit in one execution, Collect in another: every collected record has its own PDF', async () => {
		const ledger = join(mkdtempSync(join(tmpdir(), 'binary-collect-later-')), 'ledger.sqlite');
		const job = (operation: 'submit' | 'collect', extra: object = {}): INode => ({
			...node(
				operation === 'submit' ? 'Submit' : 'Collect',
				'n8n-nodes-llm-batch.llmBatchJob',
				200,
				{
					operation,
					provider: 'openai',
					jobName: 'invoices-later',
					ledgerStore: 'sqlite',
					ledgerSqlitePath: ledger,
					...extra,
				},
			),
			credentials: { llmBatchOpenAiApi: { id: '1', name: 'sandbox' } },
		});
		const main = (to: string) => ({ main: [[{ node: to, type: 'main' as const, index: 0 }]] });
		const credentials = {
			llmBatchOpenAiApi: { apiKey: 'sk-test', baseUrl: `${sandbox.url}/v1` },
		};
		const submitted = await runWorkflow(
			{
				nodes: [
					node('Start', 'n8n-nodes-base.manualTrigger', 0),
					node('Read Files', 'test.readFiles', 100),
					job('submit', {
						model: 'gpt-4o-mini',
						prompt: '={{ $json.text }}',
						recordId: '={{ $json.id }}',
						outputFormat: 'text',
					}),
				],
				connections: { Start: main('Read Files'), 'Read Files': main('Submit') },
			},
			{ extraNodeTypes, credentials },
		);
		expect(submitted.run.data.resultData.error?.message).toBeUndefined();
		expect(submitted.items('Submit', 0).map((b) => b.json.requestCount)).toEqual([N]);

		const r = await runWorkflow(
			{
				nodes: [node('Start', 'n8n-nodes-base.manualTrigger', 0), job('collect')],
				connections: { Start: main('Collect') },
			},
			{ extraNodeTypes, credentials },
		);
		expect(r.run.data.resultData.error?.message).toBeUndefined();
		const collected = r.items('Collect', 0);
		expect(collected).toHaveLength(N);
		const kept = collected
			.map((item) => ({
				id: item.json.id,
				pairedItem: item.pairedItem,
				bytes: Buffer.from(String(item.binary?.data?.data), 'base64').toString(),
				meta: { ...item.binary?.data, data: undefined },
			}))
			.sort((a, b) => String(a.id).localeCompare(String(b.id)));
		expect(kept).toEqual(
			Array.from({ length: N }, (_, i) => ({
				id: `INV-${i}`,
				pairedItem: { item: 0 },
				bytes: Buffer.from(pdf(i).data, 'base64').toString(),
				meta: expect.objectContaining({ ...pdf(i), data: undefined }),
			})),
		);
	});
});
