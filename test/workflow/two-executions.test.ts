/**
 * In real workflows (WorkflowExecute): two executions of the same job run at
 * once against the sandbox, on SQLite and on a real PostgreSQL. The ledger's claims split the
 * job between them — no record is paid twice, and both end every item with its own answer.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import type { ICredentialDataDecryptedObject } from 'n8n-workflow';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { closeAllStores } from '../../core/ledger';
import { expectedReply, startSandbox, type Sandbox } from '../../sandbox/server';
import { linearWorkflow } from '../../scripts/lib/workflow-builder';
import { runWorkflow, type RunResult } from '../helpers/harness';
import { createTestDatabase } from '../helpers/postgres';

const RECORDS = 100;

const records = Array.from({ length: RECORDS }, (_, i) => ({
	json: { id: `J${i}`, text: `Two executions, record ${i}` },
}));

function workflow(ledger: Record<string, unknown>) {
	return linearWorkflow({
		name: 'LLM Batch Call',
		type: 'llmBatchCall',
		parameters: {
			provider: 'openai',
			model: 'gpt-4o-mini',
			prompt: '={{ $json.text }}',
			recordId: '={{ $json.id }}',
			outputFormat: 'text',
			concurrency: 4,
			requestsPerMinute: 100_000,
			tokensPerMinute: 100_000_000,
			options: { progressIntervalSeconds: 0 },
			ledgerJob: 'two-executions',
			...ledger,
		},
		credentials: { llmBatchOpenAiApi: 'sandbox', llmBatchPostgresApi: 'pg' },
		outputs: 2,
	});
}

/** Records this execution paid for: all minus those it took from the ledger. */
function paidBy(run: RunResult): number {
	const hint = (run.hints['LLM Batch Call'] ?? []).map((h) => h.message).join(' ');
	const reused = /(\d+) reused from the ledger/.exec(hint);
	return RECORDS - (reused ? Number(reused[1]) : 0);
}

describe('two executions of one job at once', () => {
	let sandbox: Sandbox;
	beforeAll(async () => {
		sandbox = await startSandbox({ seed: 5, latencyMs: { min: 2, max: 10 } });
	});
	afterAll(async () => {
		await sandbox?.close();
		await closeAllStores();
	});

	for (const kind of ['sqlite', 'postgres'] as const) {
		it(`split the job and pay for no record twice (${kind})`, async () => {
			const credentials: Record<string, ICredentialDataDecryptedObject> = {
				llmBatchOpenAiApi: { apiKey: 'k', baseUrl: `${sandbox.url}/v1` },
			};
			let ledger: Record<string, unknown>;
			if (kind === 'sqlite') {
				const path = join(mkdtempSync(join(tmpdir(), 'two-exec-')), 'ledger.sqlite');
				ledger = { ledgerStore: 'sqlite', ledgerSqlitePath: path };
			} else {
				const db = await createTestDatabase('twoexec');
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
			sandbox.reset();
			const [a, b] = await Promise.all([
				runWorkflow(workflow(ledger), { input: records, credentials }),
				runWorkflow(workflow(ledger), { input: records, credentials }),
			]);
			const stats = sandbox.stats();
			console.log(
				`[two executions, workflow ${kind}] execution A paid ${paidBy(a)}, B paid ${paidBy(b)}, sandbox paid ${stats.paidSuccesses}, paid twice ${stats.duplicateSuccesses}`,
			);
			const twice = Object.values(stats.successesByPrompt).filter((n) => n > 1).length;
			expect(twice).toBe(0);
			expect(stats.duplicateSuccesses).toBe(0);
			expect(stats.paidSuccesses).toBe(RECORDS);
			expect(paidBy(a) + paidBy(b)).toBe(RECORDS);
			expect(paidBy(a)).toBeGreaterThan(0);
			expect(paidBy(b)).toBeGreaterThan(0);
			for (const run of [a, b]) {
				const success = run.items('LLM Batch Call', 0);
				expect(run.items('LLM Batch Call', 1)).toEqual([]);
				expect(success).toHaveLength(RECORDS);
				for (const item of success) {
					const i = (item.pairedItem as { item: number }).item;
					const llm = item.json.llm as { recordId: string; text: string };
					expect(llm.recordId).toBe(records[i].json.id);
					expect(llm.text).toBe(expectedReply({ prompt: records[i].json.text }).text);
				}
			}
		});
	}
});
