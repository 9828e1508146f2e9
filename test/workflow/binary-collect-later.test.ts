/**
 * Files come back in a later execution, through n8n-core's own binary helpers: one execution
 * runs Read Files (three PDFs in `binary.data`) → Submit, another — a workflow of its own, no
 * run data of the first — runs Collect, and every Collect item carries its own record's PDF,
 * read from the ledger and handed to n8n's `prepareBinaryData`: kept in the item in n8n's
 * default mode, in n8n's file store in filesystem mode.
 */
import { mkdtempSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import type {
	IBinaryData,
	IExecuteFunctions,
	INode,
	INodeExecutionData,
	INodeType,
} from 'n8n-workflow';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { closeAllStores } from '../../core/ledger';
import { startSandbox, type Sandbox } from '../../sandbox/server';
import { PassThroughNode, runWorkflow, workflowNode } from '../helpers/harness';
import { tinyPdfBinary as pdf } from '../helpers/pdf';

const N = 3;

/**
 * Read Files as n8n's is: one item per file, the file in `binary.data`, stored where n8n's
 * binary mode says (in the item, or in n8n's file store).
 */
class ReadFiles extends PassThroughNode {
	async execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
		const items: INodeExecutionData[] = [];
		for (let i = 0; i < N; i++) {
			const file = pdf(i);
			items.push({
				json: { id: `INV-${i}`, text: `Invoice ${i}: total ${i * 10} EUR` },
				binary: {
					data: await this.helpers.prepareBinaryData(
						Buffer.from(file.data, 'base64'),
						file.fileName,
						file.mimeType,
					),
				},
				pairedItem: { item: 0 },
			});
		}
		return [items];
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

const node = workflowNode;

/** n8n-core's binary data service (its own copy of the DI container, as the harness resolves it). */
interface BinaryService {
	config: { mode: string; localStoragePath: string };
	mode: string;
	managers: Record<string, unknown>;
	init(): Promise<void>;
	getAsBuffer(binary: IBinaryData): Promise<Buffer>;
}
function binaryService(): BinaryService {
	const fromCore = createRequire(require.resolve('n8n-core'));
	const { Container } = fromCore('@n8n/di') as { Container: { get(t: unknown): unknown } };
	const { BinaryDataService } = fromCore('n8n-core') as { BinaryDataService: unknown };
	return Container.get(BinaryDataService) as BinaryService;
}

describe.each(['default', 'filesystem'] as const)(
	'binary data in a later execution: n8n binary mode %s',
	(mode) => {
		let service: BinaryService;
		let before: { mode: string; managers: Record<string, unknown> };
		beforeAll(async () => {
			service = binaryService();
			before = { mode: service.mode, managers: { ...service.managers } };
			if (mode === 'filesystem') {
				service.config.mode = 'filesystem';
				service.config.localStoragePath = mkdtempSync(join(tmpdir(), 'n8n-binary-'));
				await service.init();
			}
		});
		afterAll(() => {
			service.mode = before.mode;
			service.managers = before.managers;
		});

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
			// Submit read each file where n8n keeps it.
			expect(
				submitted
					.items('Read Files', 0)
					.map((f) => f.binary?.data?.id?.split(':')[0] ?? 'in the item'),
			).toEqual(Array(N).fill(mode === 'filesystem' ? 'filesystem-v2' : 'in the item'));

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
			const kept = await Promise.all(
				collected.map(async (item) => ({
					id: item.json.id,
					pairedItem: item.pairedItem,
					// Where n8n's binary mode put it: in the item (default) or in its file store.
					stored: item.binary?.data?.id?.split(':')[0] ?? 'in the item',
					bytes: (await service.getAsBuffer(item.binary!.data)).toString(),
					meta: { ...item.binary?.data, data: undefined, id: undefined },
				})),
			);
			kept.sort((a, b) => String(a.id).localeCompare(String(b.id)));
			expect(kept).toEqual(
				Array.from({ length: N }, (_, i) => ({
					id: `INV-${i}`,
					pairedItem: { item: 0 },
					stored: mode === 'filesystem' ? 'filesystem-v2' : 'in the item',
					bytes: Buffer.from(pdf(i).data, 'base64').toString(),
					meta: expect.objectContaining({ ...pdf(i), data: undefined }),
				})),
			);
		});
	},
);
