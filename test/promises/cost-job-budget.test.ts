/**
 * A job budget (Max Cost per Run applied to the ledger job) holds across executions that run
 * at once: spend is reserved in the ledger before each request is sent and settled on its
 * answer, so two executions cannot both spend what is left. SQLite and PostgreSQL. Billed =
 * what the sandbox reports as used × the model's price; the promise: billed ≤ budget + one
 * request's maximum cost.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import type { ICredentialDataDecryptedObject } from 'n8n-workflow';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import { resetSharedFlow } from '../../core/call/limiter/in-process';
import { costUsd } from '../../core/cost';
import { closeAllStores } from '../../core/ledger';
import { executeLlmBatchCall } from '../../nodes/LlmBatchCall/execute';
import { startSandbox, type Sandbox } from '../../sandbox/server';
import { mockExecute, type MockOptions } from '../helpers/mock-execute';
import { createTestDatabase } from '../helpers/postgres';

const MAX_TOKENS = 64;
const MODEL = 'gpt-4o';

const records = (from: number, n: number) =>
	Array.from({ length: n }, (_, i) => ({
		id: `R${from + i}`,
		text: `Summarise ticket ${from + i}.`,
	}));

function params(
	ledger: Record<string, unknown>,
	options: Record<string, unknown>,
): MockOptions['parameters'] {
	return {
		provider: 'openai',
		model: MODEL,
		prompt: (_i: number, item: { json: Record<string, unknown> }) => item.json.text,
		recordId: (_i: number, item: { json: Record<string, unknown> }) => item.json.id,
		outputFormat: 'text',
		concurrency: 4,
		requestsPerMinute: 600_000,
		tokensPerMinute: 100_000_000,
		resultField: 'llm',
		ledgerJob: 'budgeted',
		...ledger,
		options: { progressIntervalSeconds: 0, maxTokens: MAX_TOKENS, ...options },
	};
}

const billed = (sb: Sandbox) => {
	const s = sb.stats();
	return costUsd(MODEL, { inputTokens: s.inputTokens, outputTokens: s.outputTokens })!;
};
/** One request's most: a prompt far above these records' (~10 tokens) and Max Tokens. */
const maxOne = costUsd(MODEL, { inputTokens: 200, outputTokens: MAX_TOKENS })!;

describe('a job budget across executions at once (ledger reservations)', () => {
	let sandbox: Sandbox;
	beforeAll(async () => {
		sandbox = await startSandbox({ seed: 23, latencyMs: { min: 5, max: 15 } });
	});
	afterAll(async () => {
		await sandbox?.close();
		await closeAllStores();
	});
	beforeEach(() => {
		resetSharedFlow();
		sandbox.reset();
	});

	for (const kind of ['sqlite', 'postgres'] as const) {
		it(`two executions of one job at once stay within the job budget (${kind})`, async () => {
			const credentials: Record<string, ICredentialDataDecryptedObject> = {
				llmBatchOpenAiApi: { apiKey: 'k', baseUrl: `${sandbox.url}/v1` },
			};
			let ledger: Record<string, unknown>;
			let dir: string | undefined;
			if (kind === 'sqlite') {
				dir = mkdtempSync(join(tmpdir(), 'cost-job-'));
				ledger = { ledgerStore: 'sqlite', ledgerSqlitePath: join(dir, 'ledger.sqlite') };
			} else {
				const db = await createTestDatabase('costjob');
				credentials.llmBatchPostgresApi = {
					host: db.host,
					port: db.port,
					database: db.database,
					user: db.user,
					password: db.password,
					ssl: false,
				};
				ledger = { ledgerStore: 'postgres' };
			}
			try {
				const budget = 0.006;
				const options = { maxCostUsd: budget, budgetScope: 'job' };
				const run = (from: number) =>
					executeLlmBatchCall(
						mockExecute({
							items: records(from, 80),
							parameters: params(ledger, options),
							credentials,
							executionId: `exec-${from}`,
						}).fns,
					);
				const [[s1, f1], [s2, f2]] = await Promise.all([run(0), run(1000)]);
				const spent = billed(sandbox);
				expect(spent).toBeGreaterThan(budget / 2);
				expect(spent).toBeLessThanOrEqual(budget + maxOne);
				expect(s1.length + f1.length + s2.length + f2.length).toBe(160);
				for (const f of [...f1, ...f2])
					expect((f.json.error as { code: string }).code).toBe('budget_exceeded');
				// A third execution later finds the budget spent: nothing more is sent.
				resetSharedFlow();
				const before = sandbox.stats().accepted;
				const [s3, f3] = await run(2000);
				expect(sandbox.stats().accepted - before).toBeLessThanOrEqual(1);
				expect(s3.length + f3.length).toBe(80);
				expect(billed(sandbox)).toBeLessThanOrEqual(budget + maxOne);
			} finally {
				if (dir) rmSync(dir, { recursive: true, force: true });
			}
		});
	}
});
