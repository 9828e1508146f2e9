/**
 * kill -9 then rerun under a job budget: an execution (a child process) is killed with
 * requests out, each reserved in the ledger at its most. The rerun (this process) neither
 * waits for those reservations' lease (the dead process is recognised at once) nor forgets
 * them: they count as paid at their most, since the provider may have billed them. Billed =
 * the sandbox's reported usage × gpt-4o's price; the promise: billed ≤ budget + one request's
 * maximum cost. SQLite and PostgreSQL.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

import type { ICredentialDataDecryptedObject } from 'n8n-workflow';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { resetSharedFlow } from '../../core/call/limiter/in-process';
import { costUsd } from '../../core/cost';
import { closeAllStores, openStore, postgresConfigFromCredential } from '../../core/ledger';
import type { LedgerStore } from '../../core/ledger/types';
import { executeLlmBatchCall } from '../../nodes/LlmBatchCall/execute';
import { startSandbox, type Sandbox } from '../../sandbox/server';
import { mockExecute } from '../helpers/mock-execute';
import { createTestDatabase } from '../helpers/postgres';

const ROOT = resolve(__dirname, '../..');
const MODEL = 'gpt-4o';
const MAX_TOKENS = 64;
const JOB = 'crash-budget';
const BUDGET = 0.005;
/** One request's most: a prompt far above these records' (~10 tokens) and Max Tokens. */
const MAX_ONE = costUsd(MODEL, { inputTokens: 200, outputTokens: MAX_TOKENS })!;
/** What the node reserves for one of these requests: about 16 prompt tokens and Max Tokens. */
const ONE_RESERVED = costUsd(MODEL, { inputTokens: 16, outputTokens: MAX_TOKENS })!;

const records = Array.from({ length: 60 }, (_, i) => ({
	id: `C${i}`,
	text: `Summarise crash ticket ${i}.`,
}));

function bundleChild(): string {
	const outfile = join(mkdtempSync(join(tmpdir(), 'cost-crash-child-')), 'child.cjs');
	execFileSync(
		join(ROOT, 'node_modules/.bin/esbuild'),
		[
			join(ROOT, 'test/promises/cost-crash.child.ts'),
			'--bundle',
			'--platform=node',
			'--format=cjs',
			'--packages=external',
			'--log-level=warning',
			`--outfile=${outfile}`,
		],
		{ cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
	);
	return outfile;
}

const parameters = (ledger: Record<string, unknown>) => ({
	provider: 'openai',
	model: MODEL,
	prompt: '={{ $json.text }}',
	recordId: '={{ $json.id }}',
	outputFormat: 'text',
	concurrency: 4,
	requestsPerMinute: 600_000,
	tokensPerMinute: 100_000_000,
	resultField: 'llm',
	ledgerJob: JOB,
	...ledger,
	options: {
		progressIntervalSeconds: 0,
		maxTokens: MAX_TOKENS,
		maxCostUsd: BUDGET,
		budgetScope: 'job',
	},
});

/** The job's live reservations, read without taking one (a request no budget can hold). */
async function reservedUsd(store: LedgerStore): Promise<number> {
	const now = new Date();
	const v = await store.reserveSpend(JOB, {
		ticket: 'probe',
		owner: 'probe',
		usd: 1e9,
		capUsd: 0,
		at: now.toISOString(),
		reservedUntil: now.toISOString(),
	});
	return v.reservedUsd;
}

describe('kill -9 under a job budget, then rerun', () => {
	let sandbox: Sandbox;
	let script: string;
	beforeAll(async () => {
		sandbox = await startSandbox({ seed: 29 });
		script = bundleChild();
	});
	afterAll(async () => {
		await sandbox?.close();
		await closeAllStores();
	});

	for (const kind of ['sqlite', 'postgres'] as const) {
		it(`the rerun goes on at once and the killed requests count at their most (${kind})`, async () => {
			sandbox.reset();
			// Slow answers: the child is killed while its requests are out.
			sandbox.configure({ latencyMs: { min: 3000, max: 3000 } });
			const credentials: Record<string, ICredentialDataDecryptedObject> = {
				llmBatchOpenAiApi: { apiKey: 'k', baseUrl: `${sandbox.url}/v1` },
			};
			let ledger: Record<string, unknown>;
			let store: LedgerStore;
			if (kind === 'sqlite') {
				const path = join(mkdtempSync(join(tmpdir(), 'cost-crash-')), 'ledger.sqlite');
				ledger = { ledgerStore: 'sqlite', ledgerSqlitePath: path };
				store = openStore({ kind: 'sqlite', path });
			} else {
				const db = await createTestDatabase('costcrash');
				credentials.llmBatchPostgresApi = {
					host: db.host,
					port: db.port,
					database: db.database,
					user: db.user,
					password: db.password,
					ssl: false,
				};
				ledger = { ledgerStore: 'postgres' };
				store = openStore(postgresConfigFromCredential(credentials.llmBatchPostgresApi));
			}
			const child = spawn(process.execPath, [script], {
				cwd: ROOT,
				env: {
					...process.env,
					NODE_PATH: join(ROOT, 'node_modules'),
					LLM_BATCH_COST_CRASH_CHILD: JSON.stringify({
						parameters: parameters(ledger),
						credentials,
						records,
					}),
					N8N_USER_FOLDER: mkdtempSync(join(tmpdir(), 'n8n-cost-crash-')),
				},
				stdio: ['ignore', 'pipe', 'pipe'],
			});
			let err = '';
			child.stderr?.on('data', (c: Buffer) => (err += c.toString()));
			child.stdout?.on('data', (c: Buffer) => (err += c.toString()));
			const exit = new Promise<NodeJS.Signals | null>((r) => child.on('exit', (_c, s) => r(s)));
			// Killed once two or more requests are reserved and out (the first answer has come back).
			let held = 0;
			const deadline = Date.now() + 60_000;
			while (Date.now() < deadline) {
				await new Promise((r) => setTimeout(r, 50));
				try {
					await store.init();
					held = await reservedUsd(store);
				} catch {
					continue; // the child has not created the ledger yet
				}
				if (held > 1.5 * ONE_RESERVED && sandbox.stats().inFlight >= 2) break;
			}
			child.kill('SIGKILL');
			expect(await exit, `held ${held}, in flight ${sandbox.stats().inFlight}: ${err}`).toBe(
				'SIGKILL',
			);
			expect(held).toBeGreaterThan(0);

			// The rerun: the same job, fast answers now.
			sandbox.configure({ latencyMs: { min: 0, max: 0 } });
			resetSharedFlow();
			const [success, failed] = await executeLlmBatchCall(
				mockExecute({
					items: records,
					parameters: parameters(ledger),
					credentials,
					executionId: 'rerun',
				}).fns,
			);
			// Not the reservations' lease (over 5 minutes): the dead process is known at once — a
			// rerun that waited the lease out would end on the test's timeout (2 minutes).
			expect(success.length).toBeGreaterThan(0);
			expect(success.length + failed.length).toBe(records.length);
			for (const f of failed)
				expect((f.json.error as { code: string }).code).toBe('budget_exceeded');
			// Let the killed requests' answers finish in the sandbox (it bills them).
			await new Promise((r) => setTimeout(r, 3200));
			const s = sandbox.stats();
			const billed = costUsd(MODEL, { inputTokens: s.inputTokens, outputTokens: s.outputTokens })!;
			expect(billed).toBeLessThanOrEqual(BUDGET + MAX_ONE);
			await store.close();
		});
	}
});
