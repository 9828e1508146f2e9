/**
 * The ops view of claimed publishing: a scheduled Collect and a manual one of the same job run
 * at once as real workflows (WorkflowExecute). Each record leaves exactly one of them, once —
 * SQLite and PostgreSQL, both providers.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import type { ICredentialDataDecryptedObject, INode } from 'n8n-workflow';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { closeAllStores } from '../../core/ledger';
import { startSandbox, type Sandbox } from '../../sandbox/server';
import { runWorkflow, type WorkflowJson } from '../helpers/harness';
import { createTestDatabase } from '../helpers/postgres';
import { LEDGERS, MODEL, PROVIDERS, fakeClock } from './collect-fixtures';

const N = 50;
let sandbox: Sandbox;
beforeAll(async () => {
	sandbox = await startSandbox({ now: () => fakeClock.t, batch: { processingMs: 100_000 } });
});
afterAll(async () => {
	await sandbox?.close();
	await closeAllStores();
});

describe.each(PROVIDERS)('two Collect workflows at once: %s', (provider) => {
	it.each(LEDGERS)('%s: each record emitted by exactly one of them, once', async (kind) => {
		const credentials: Record<string, ICredentialDataDecryptedObject> = {
			llmBatchOpenAiApi: { apiKey: 'sk-test', baseUrl: `${sandbox.url}/v1` },
			llmBatchAnthropicApi: { apiKey: 'sk-test', baseUrl: sandbox.url },
			llmBatchGeminiApi: { apiKey: 'sk-test', baseUrl: sandbox.url },
		};
		let ledger: Record<string, unknown>;
		if (kind === 'sqlite') {
			const path = join(mkdtempSync(join(tmpdir(), 'collect-wf-')), 'ledger.sqlite');
			ledger = { ledgerStore: 'sqlite', ledgerSqlitePath: path };
		} else {
			const db = await createTestDatabase('collectwf');
			credentials.llmBatchPostgresApi = {
				host: db.host,
				port: db.port,
				database: db.database,
				user: db.user,
				password: db.password,
				ssl: 'disable',
			};
			ledger = { ledgerStore: 'postgres' };
		}
		const node = (parameters: Record<string, unknown>): INode => ({
			id: 'job',
			name: 'LLM Batch Job',
			type: 'n8n-nodes-llm-batch.llmBatchJob',
			typeVersion: 1,
			position: [200, 0],
			parameters: {
				provider,
				jobName: `wf-${provider}`,
				...ledger,
				...parameters,
			} as INode['parameters'],
			credentials: {
				...(provider === 'openai'
					? { llmBatchOpenAiApi: { id: '1', name: 'sandbox' } }
					: provider === 'gemini'
						? { llmBatchGeminiApi: { id: '4', name: 'sandbox' } }
						: { llmBatchAnthropicApi: { id: '2', name: 'sandbox' } }),
				...(kind === 'postgres' ? { llmBatchPostgresApi: { id: '3', name: 'pg' } } : {}),
			},
		});
		const single = (n: INode): WorkflowJson => ({
			nodes: [
				{
					id: 't',
					name: 'Start',
					type: 'n8n-nodes-base.manualTrigger',
					typeVersion: 1,
					position: [0, 0],
					parameters: {},
				},
				n,
			],
			connections: { Start: { main: [[{ node: n.name, type: 'main', index: 0 }]] } },
		});
		const submitted = await runWorkflow(
			single(
				node({
					operation: 'submit',
					model: MODEL[provider],
					prompt: '={{ $json.text }}',
					recordId: '={{ $json.id }}',
					outputFormat: 'text',
				}),
			),
			{
				input: Array.from({ length: N }, (_, i) => ({
					json: { id: `W${i}`, text: `Question ${i}` },
				})),
				credentials,
			},
		);
		expect(submitted.run.status).toBe('success');
		fakeClock.t += 100_000;
		const collect = single(node({ operation: 'collect' }));
		const [a, b] = await Promise.all([
			runWorkflow(collect, { credentials }),
			runWorkflow(collect, { credentials }),
		]);
		const ids = [a, b].flatMap((r) =>
			[...r.items('LLM Batch Job', 0), ...r.items('LLM Batch Job', 1)].map((i) =>
				String(i.json.id),
			),
		);
		console.log(
			`[two collect workflows ${provider} ${kind}] A emitted ${ids.length - b.items('LLM Batch Job', 0).length - b.items('LLM Batch Job', 1).length}, B ${b.items('LLM Batch Job', 0).length + b.items('LLM Batch Job', 1).length}, distinct ${new Set(ids).size}`,
		);
		expect({ emitted: ids.length, distinct: new Set(ids).size }).toEqual({
			emitted: N,
			distinct: N,
		});
	});
});
