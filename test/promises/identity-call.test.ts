/**
 * One answer identity, LLM Batch Call: a stored answer is reused only for the same provider,
 * endpoint, credential, model, prompts and settings. A job run against a dry-run server and
 * then pointed at the real one under the same job name sends again, and the hint says why;
 * an answer stored before the endpoint was part of the identity is sent again once.
 * Each case on SQLite and PostgreSQL.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import type { ICredentialDataDecryptedObject } from 'n8n-workflow';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { sha256, stableStringify } from '../../core/hash';
import { closeAllStores, openStore, postgresConfigFromCredential } from '../../core/ledger';
import { startSandbox, type Sandbox } from '../../sandbox/server';
import { linearWorkflow } from '../../scripts/lib/workflow-builder';
import { runWorkflow, type RunResult } from '../helpers/harness';
import { createTestDatabase } from '../helpers/postgres';

const RECORDS = 10;
const input = Array.from({ length: RECORDS }, (_, i) => ({
	json: { id: `E${i}`, text: `Endpoint record ${i}` },
}));

function workflow(
	ledger: Record<string, unknown>,
	job: string,
	recordsPerRequest = 1,
	chain?: { primary: string; fallback: string },
) {
	return linearWorkflow({
		name: 'LLM Batch Call',
		type: 'llmBatchCall',
		parameters: {
			provider: 'openai',
			model: chain?.primary ?? 'gpt-4o-mini',
			...(chain ? { fallbackProvider: 'openai', fallbackModels: chain.fallback } : {}),
			prompt: '={{ $json.text }}',
			recordId: '={{ $json.id }}',
			outputFormat: 'text',
			concurrency: 4,
			requestsPerMinute: 100_000,
			tokensPerMinute: 100_000_000,
			options: { progressIntervalSeconds: 0, recordsPerRequest },
			ledgerJob: job,
			...ledger,
		},
		credentials: {
			llmBatchOpenAiApi: 'provider',
			llmBatchFallbackApi: 'fallback',
			llmBatchPostgresApi: 'pg',
		},
		outputs: 2,
	});
}

const hintOf = (run: RunResult) =>
	(run.hints['LLM Batch Call'] ?? []).map((h) => h.message).join(' | ');

describe.each(['sqlite', 'postgres'] as const)('answer identity, LLM Batch Call (%s)', (kind) => {
	let dryRun: Sandbox;
	let real: Sandbox;
	let ledger: Record<string, unknown>;
	let pg: ICredentialDataDecryptedObject | undefined;
	beforeAll(async () => {
		dryRun = await startSandbox({ seed: 1, strictModels: true });
		real = await startSandbox({ seed: 2, strictModels: true });
		if (kind === 'sqlite') {
			const path = join(mkdtempSync(join(tmpdir(), 'identity-call-')), 'ledger.sqlite');
			ledger = { ledgerStore: 'sqlite', ledgerSqlitePath: path };
		} else {
			const db = await createTestDatabase('identity');
			pg = {
				host: db.host,
				port: db.port,
				database: db.database,
				user: db.user,
				password: db.password,
				ssl: 'disable',
			};
			ledger = { ledgerStore: 'postgres' };
		}
	});
	afterAll(async () => {
		await dryRun?.close();
		await real?.close();
		await closeAllStores();
	});

	async function run(server: Sandbox, job: string, apiKey: string, recordsPerRequest = 1) {
		server.reset();
		const credentials: Record<string, ICredentialDataDecryptedObject> = {
			llmBatchOpenAiApi: { apiKey, baseUrl: `${server.url}/v1` },
			...(pg ? { llmBatchPostgresApi: pg } : {}),
		};
		const result = await runWorkflow(workflow(ledger, job, recordsPerRequest), {
			input,
			credentials,
		});
		const success = result.items('LLM Batch Call', 0);
		expect(result.items('LLM Batch Call', 1)).toEqual([]);
		expect(success).toHaveLength(RECORDS);
		for (const item of success) {
			const i = (item.pairedItem as { item: number }).item;
			expect((item.json.llm as { recordId: string }).recordId).toBe(input[i].json.id);
		}
		return { requests: server.stats().requests, hint: hintOf(result) };
	}

	it('a job moved from a dry-run server to the real one sends every record again, and says why', async () => {
		const job = `moved-${kind}`;
		expect((await run(dryRun, job, 'dry-run-key')).requests).toBe(RECORDS);
		const moved = await run(real, job, 'real-key');
		console.log(`[answer identity ${kind}] after the endpoint change: ${moved.requests} requests`);
		expect(moved.requests).toBe(RECORDS);
		expect(moved.hint).toContain(
			`${RECORDS} stored answers came from another endpoint or credential: sent again`,
		);
		expect(moved.hint).not.toContain('reused from the ledger');
		// The real endpoint's answers are the job's now: a rerun there reuses them.
		const rerun = await run(real, job, 'real-key');
		expect(rerun.requests).toBe(0);
		expect(rerun.hint).toContain(`${RECORDS} reused from the ledger`);
		// Same endpoint, another credential (another account): sent again.
		const otherKey = await run(real, job, 'other-account-key');
		expect(otherKey.requests).toBe(RECORDS);
		expect(otherKey.hint).toContain('came from another endpoint or credential');
	});

	it('grouped requests (Records per Request 5): the endpoint change sends every record again too', async () => {
		const job = `moved-grouped-${kind}`;
		const first = await run(dryRun, job, 'dry-run-key', 5);
		expect(first.requests).toBe(2);
		const moved = await run(real, job, 'real-key', 5);
		expect(moved.requests).toBe(2);
		expect(moved.hint).toContain(
			`${RECORDS} stored answers came from another endpoint or credential: sent again`,
		);
		expect((await run(real, job, 'real-key', 5)).requests).toBe(0);
	});

	it('a fallback chain: answers of the fallback model are tied to its own endpoint and credential', async () => {
		const job = `chain-${kind}`;
		// The primary is a model the servers do not serve: every record is the fallback's.
		const chain = { primary: 'gpt-retired-0613', fallback: 'gpt-4o-mini' };
		const runChain = async (fallbackServer: Sandbox, fallbackKey: string) => {
			for (const s of [dryRun, real]) s.reset();
			const result = await runWorkflow(workflow(ledger, job, 1, chain), {
				input,
				credentials: {
					llmBatchOpenAiApi: { apiKey: 'real-key', baseUrl: `${real.url}/v1` },
					llmBatchFallbackApi: { apiKey: fallbackKey, baseUrl: `${fallbackServer.url}/v1` },
					...(pg ? { llmBatchPostgresApi: pg } : {}),
				},
			});
			const success = result.items('LLM Batch Call', 0);
			expect(result.items('LLM Batch Call', 1)).toEqual([]);
			expect(success.map((i) => (i.json.llm as { model: string }).model)).toEqual(
				new Array(RECORDS).fill(chain.fallback),
			);
			return {
				paid: dryRun.stats().paidSuccesses + real.stats().paidSuccesses,
				hint: hintOf(result),
			};
		};
		expect((await runChain(dryRun, 'dry-run-key')).paid).toBe(RECORDS);
		const moved = await runChain(real, 'real-key');
		expect(moved.paid).toBe(RECORDS);
		expect(moved.hint).toContain(
			`${RECORDS} stored answers came from another endpoint or credential: sent again`,
		);
		// The fallback's own answers from the real endpoint stand on a rerun: nothing is paid,
		// the primary is not asked again.
		const rerun = await runChain(real, 'real-key');
		expect(rerun.paid).toBe(0);
		expect(rerun.hint).toContain(`${RECORDS} reused from the ledger`);
	});

	it('an answer stored before the endpoint was part of its identity is sent again once, with a hint', async () => {
		const job = `legacy-${kind}`;
		// A ledger row as written before: its hash covers provider, model, prompts and settings only.
		const legacyHash = (prompt: string) =>
			sha256(stableStringify(['openai', 'gpt-4o-mini', '', prompt, null, null, 1024])).slice(0, 32);
		const store = openStore(
			kind === 'sqlite'
				? { kind: 'sqlite', path: ledger.ledgerSqlitePath as string }
				: postgresConfigFromCredential(pg!),
		);
		await store.init();
		await store.writeBatch(
			job,
			input.map((item) => ({
				type: 'succeeded' as const,
				at: '2026-01-01T00:00:00.000Z',
				result: {
					recordId: item.json.id,
					output: 'an answer of an unknown endpoint',
					text: 'an answer of an unknown endpoint',
					model: 'gpt-4o-mini',
					provider: 'openai' as const,
					finishReason: 'stop',
					usage: { inputTokens: 10, outputTokens: 2 },
					costUsd: 0,
					attempts: 1,
					latencyMs: 1,
					cached: false,
					promptHash: legacyHash(item.json.text),
					completedAt: '2026-01-01T00:00:00.000Z',
				},
			})),
		);
		const first = await run(real, job, 'real-key');
		expect(first.requests).toBe(RECORDS);
		expect(first.hint).toContain(
			`${RECORDS} stored answers were saved before answers were tied to an endpoint and credential: sent again once`,
		);
		expect((await run(real, job, 'real-key')).requests).toBe(0);
	});
});
