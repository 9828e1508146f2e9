/**
 * One execution's Collect items are paired with their records' Submit input items: Make
 * tickets → Submit → Wait → Collect → a node reading `$('Make tickets').item` gets each
 * record's own ticket (2,000 items, 4 batches), and `$('Wait').item` its own batch.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import type { IExecuteFunctions, INode, INodeExecutionData, INodeType } from 'n8n-workflow';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { closeAllStores } from '../../core/ledger';
import { startSandbox, type Sandbox } from '../../sandbox/server';
import { PassThroughNode, runWorkflow, workflowNode } from '../helpers/harness';
import { fakeClock } from './collect-fixtures';

const N = 2000;

/** Makes N tickets from the trigger's one item (each paired with it, as a Code node does). */
class MakeTickets extends PassThroughNode {
	async execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
		return [
			Array.from({ length: N }, (_, i) => ({
				json: {
					id: `TCK-${String(i).padStart(4, '0')}`,
					text: `Ticket ${i}: refund order ${i * 3}`,
				},
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

/** A Set node: reads upstream items through n8n's item linking, per item. */
class ReadUpstream extends PassThroughNode {
	async execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
		return [
			this.getInputData().map((item, i) => ({
				json: {
					id: item.json.id,
					llmBatchId: (item.json.llm as { batchId: string }).batchId,
					ticketId: this.evaluateExpression("{{ $('Make tickets').item.json.id }}", i),
					ticketText: this.evaluateExpression("{{ $('Make tickets').item.json.text }}", i),
					waitBatchId: this.evaluateExpression("{{ $('Wait').item.json.batchId }}", i),
				},
				pairedItem: { item: i },
			})),
		];
	}
}

const extraNodeTypes: Record<string, INodeType> = {
	'test.makeTickets': new MakeTickets(),
	'test.wait': new WaitStub(),
	'test.readUpstream': new ReadUpstream(),
};

let sandbox: Sandbox;
beforeAll(async () => {
	sandbox = await startSandbox({ now: () => fakeClock.t, batch: { processingMs: 0 } });
});
afterAll(async () => {
	await sandbox?.close();
	await closeAllStores();
});

const node = workflowNode;

describe.each(['openai', 'anthropic', 'gemini'] as const)(
	'Submit → Wait → Collect in one execution: %s',
	(provider) => {
		it(`every one of ${N} Collect items pairs with its own Make tickets item`, async () => {
			const ledger = join(mkdtempSync(join(tmpdir(), 'collect-pairing-')), 'ledger.sqlite');
			const job = (operation: string, extra: Record<string, unknown> = {}): INode => ({
				...node(
					operation === 'submit' ? 'Submit' : 'Collect',
					'n8n-nodes-llm-batch.llmBatchJob',
					0,
					{
						operation,
						provider,
						jobName: `pairing-${provider}`,
						ledgerStore: 'sqlite',
						ledgerSqlitePath: ledger,
						...extra,
					},
				),
				credentials:
					provider === 'openai'
						? { llmBatchOpenAiApi: { id: '1', name: 'sandbox' } }
						: provider === 'gemini'
							? { llmBatchGeminiApi: { id: '4', name: 'sandbox' } }
							: { llmBatchAnthropicApi: { id: '2', name: 'sandbox' } },
			});
			const wf = {
				nodes: [
					node('Start', 'n8n-nodes-base.manualTrigger', 0),
					node('Make tickets', 'test.makeTickets', 100),
					job('submit', {
						model: {
							openai: 'gpt-4o-mini',
							anthropic: 'claude-3-5-haiku-latest',
							gemini: 'gemini-2.5-flash',
						}[provider],
						prompt: '={{ $json.text }}',
						recordId: '={{ $json.id }}',
						outputFormat: 'text',
						options: { batchSize: 500 },
					}),
					node('Wait', 'test.wait', 300),
					job('collect'),
					node('Set', 'test.readUpstream', 500),
				],
				connections: {
					Start: { main: [[{ node: 'Make tickets', type: 'main' as const, index: 0 }]] },
					'Make tickets': { main: [[{ node: 'Submit', type: 'main' as const, index: 0 }]] },
					Submit: { main: [[{ node: 'Wait', type: 'main' as const, index: 0 }]] },
					Wait: { main: [[{ node: 'Collect', type: 'main' as const, index: 0 }]] },
					Collect: { main: [[{ node: 'Set', type: 'main' as const, index: 0 }]] },
				},
			};
			const r = await runWorkflow(wf, {
				extraNodeTypes,
				credentials: {
					llmBatchOpenAiApi: { apiKey: 'sk-test', baseUrl: `${sandbox.url}/v1` },
					llmBatchAnthropicApi: { apiKey: 'sk-test', baseUrl: sandbox.url },
					llmBatchGeminiApi: { apiKey: 'sk-test', baseUrl: sandbox.url },
				},
			});
			const error = r.run.data.resultData.error;
			expect(error?.message).toBeUndefined();
			expect(r.items('Submit', 0)).toHaveLength(4);
			const out = r.items('Set', 0);
			expect(out).toHaveLength(N);
			let own = 0;
			let ownBatch = 0;
			for (const item of out) {
				if (
					item.json.ticketId === item.json.id &&
					item.json.ticketText ===
						`Ticket ${Number(String(item.json.id).slice(4))}: refund order ${Number(String(item.json.id).slice(4)) * 3}`
				)
					own++;
				if (item.json.waitBatchId === item.json.llmBatchId) ownBatch++;
			}
			console.log(
				`[pairing ${provider}] ${own} of ${N} paired with their own ticket, ${ownBatch} with their own batch`,
			);
			expect({ own, ownBatch }).toEqual({ own: N, ownBatch: N });
		});
	},
);
