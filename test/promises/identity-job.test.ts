/**
 * One answer identity, LLM Batch Job Submit: a record the ledger holds as answered is skipped
 * only when its answer came from the same provider, endpoint, credential, model, prompts and
 * settings. A job submitted and collected against a dry-run server, then submitted under the
 * same name to the real one, is submitted again, and the hint says why. OpenAI and Anthropic,
 * SQLite and PostgreSQL.
 */
import { mkdtempSync } from 'node:fs';
import { DatabaseSync } from 'node:sqlite';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import type { ICredentialDataDecryptedObject, INode, INodeExecutionData } from 'n8n-workflow';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { closeAllStores } from '../../core/ledger';
import { startSandbox, type Sandbox } from '../../sandbox/server';
import { runWorkflow, type WorkflowJson } from '../helpers/harness';
import { createTestDatabase } from '../helpers/postgres';

const MODEL = {
	openai: 'gpt-4o-mini',
	anthropic: 'claude-3-5-haiku-latest',
	gemini: 'gemini-2.5-flash',
} as const;
type P = keyof typeof MODEL;
const RECORDS = 10;

let t = Date.parse('2026-02-01T02:00:00Z');
let dryRun: Sandbox;
let real: Sandbox;
beforeAll(async () => {
	dryRun = await startSandbox({ seed: 1, now: () => t });
	real = await startSandbox({ seed: 2, now: () => t });
	for (const s of [dryRun, real]) s.batch.configure({ processingMs: 1000 });
	// Two sandboxes number their batches alike; a provider's batch IDs are its own. One upload
	// moves the real server's numbering on, so its batches never take the dry run's IDs.
	const form = new FormData();
	form.append('purpose', 'batch');
	form.append('file', new Blob(['{}\n']), 'skip.jsonl');
	await fetch(`${real.url}/v1/files`, {
		method: 'POST',
		body: form,
		headers: { authorization: 'Bearer k' },
	});
});
afterAll(async () => {
	await dryRun?.close();
	await real?.close();
	await closeAllStores();
});

const trigger: INode = {
	id: 't',
	name: 'Start',
	type: 'n8n-nodes-base.manualTrigger',
	typeVersion: 1,
	position: [0, 0],
	parameters: {},
};

function single(provider: P, ledger: Record<string, unknown>, parameters: object): WorkflowJson {
	const node: INode = {
		id: 'job',
		name: 'LLM Batch Job',
		type: 'n8n-nodes-llm-batch.llmBatchJob',
		typeVersion: 1,
		position: [200, 0],
		parameters: { provider, jobName: 'moved', ...ledger, ...parameters },
		credentials: {
			...(provider === 'openai'
				? { llmBatchOpenAiApi: { id: '1', name: 'provider' } }
				: provider === 'gemini'
					? { llmBatchGeminiApi: { id: '4', name: 'provider' } }
					: { llmBatchAnthropicApi: { id: '2', name: 'provider' } }),
			llmBatchPostgresApi: { id: '3', name: 'pg' },
		},
	};
	return {
		nodes: [trigger, node],
		connections: { Start: { main: [[{ node: node.name, type: 'main', index: 0 }]] } },
	};
}

const input: INodeExecutionData[] = Array.from({ length: RECORDS }, (_, i) => ({
	json: { id: `M${i}`, text: `Moved ticket ${i}` },
}));

describe.each([
	['openai', 'sqlite'],
	['openai', 'postgres'],
	['anthropic', 'sqlite'],
	['anthropic', 'postgres'],
	['gemini', 'sqlite'],
	['gemini', 'postgres'],
] as const)('answer identity, LLM Batch Job Submit (%s, %s)', (provider, kind) => {
	it('a job collected from a dry-run server is submitted again to the real one, and the hint says why', async () => {
		let ledger: Record<string, unknown>;
		let pgCredential: ICredentialDataDecryptedObject | undefined;
		if (kind === 'sqlite') {
			const path = join(mkdtempSync(join(tmpdir(), 'identity-job-')), 'ledger.sqlite');
			ledger = { ledgerStore: 'sqlite', ledgerSqlitePath: path };
		} else {
			const db = await createTestDatabase('identityjob');
			pgCredential = {
				host: db.host,
				port: db.port,
				database: db.database,
				user: db.user,
				password: db.password,
				ssl: 'disable',
			};
			ledger = { ledgerStore: 'postgres' };
		}
		const credentials = (server: Sandbox, apiKey: string) => ({
			llmBatchOpenAiApi: { apiKey, baseUrl: `${server.url}/v1` },
			llmBatchAnthropicApi: { apiKey, baseUrl: server.url },
			llmBatchGeminiApi: { apiKey, baseUrl: server.url },
			...(pgCredential ? { llmBatchPostgresApi: pgCredential } : {}),
		});
		const submit = single(provider, ledger, {
			operation: 'submit',
			model: MODEL[provider],
			prompt: '={{ $json.text }}',
			recordId: '={{ $json.id }}',
			outputFormat: 'text',
			options: { maxTokens: 100 },
		});
		const collect = single(provider, ledger, { operation: 'collect' });
		for (const s of [dryRun, real]) s.batch.reset();

		const first = await runWorkflow(submit, {
			input,
			credentials: credentials(dryRun, 'dry-run-key'),
		});
		expect(first.items('LLM Batch Job', 0).map((b) => b.json.requestCount)).toEqual([RECORDS]);
		t += 5_000;
		const got = await runWorkflow(collect, { credentials: credentials(dryRun, 'dry-run-key') });
		expect(got.items('LLM Batch Job', 0)).toHaveLength(RECORDS);

		// The credential now points at the real provider; the same job name.
		const moved = await runWorkflow(submit, { input, credentials: credentials(real, 'real-key') });
		const batches = moved.items('LLM Batch Job', 0);
		const hint = (moved.hints['LLM Batch Job'] ?? []).map((h) => h.message).join(' | ');
		console.log(
			`[answer identity job ${provider} ${kind}] after the endpoint change: ${real.batch.stats().requestsReceived} requests sent, ${JSON.stringify(batches.map((b) => b.json))}`,
		);
		expect(batches.map((b) => b.json.requestCount)).toEqual([RECORDS]);
		expect(real.batch.stats().requestsReceived).toBe(RECORDS);
		expect(hint).toContain(
			`${RECORDS} stored answers came from another endpoint or credential: sent again`,
		);
		// Collected from the real endpoint, the records are done there: nothing is sent again.
		t += 5_000;
		const second = await runWorkflow(collect, { credentials: credentials(real, 'real-key') });
		expect(second.items('LLM Batch Job', 0)).toHaveLength(RECORDS);
		const again = await runWorkflow(submit, { input, credentials: credentials(real, 'real-key') });
		expect(again.items('LLM Batch Job', 0).map((b) => b.json)).toEqual([
			{
				job: 'moved',
				batchId: null,
				skipped: RECORDS,
				alreadySucceeded: RECORDS,
				inLiveBatch: 0,
				awaitingCreate: 0,
				notRetryable: 0,
				overLimit: 0,
			},
		]);

		// A ledger written before the endpoint was part of the identity: its hashes lack the
		// endpoint-and-credential part. Such answers are submitted again once, with a hint.
		const strip = `UPDATE llm_batch_ledger_records SET prompt_hash = substr(prompt_hash, 1, 32) WHERE job = 'moved'`;
		if (kind === 'sqlite') {
			const db = new DatabaseSync(ledger.ledgerSqlitePath as string);
			db.exec(strip);
			db.close();
		} else {
			const c = pgCredential!;
			const client = new pg.Client({
				host: c.host as string,
				port: c.port as number,
				database: c.database as string,
				user: c.user as string,
				password: c.password as string,
			});
			await client.connect();
			await client.query(strip);
			await client.end();
		}
		const received = real.batch.stats().requestsReceived;
		const legacy = await runWorkflow(submit, { input, credentials: credentials(real, 'real-key') });
		expect(legacy.items('LLM Batch Job', 0).map((b) => b.json.requestCount)).toEqual([RECORDS]);
		expect(real.batch.stats().requestsReceived - received).toBe(RECORDS);
		expect((legacy.hints['LLM Batch Job'] ?? []).map((h) => h.message).join(' | ')).toContain(
			`${RECORDS} stored answers were saved before answers were tied to an endpoint and credential: sent again once`,
		);
	});
});
