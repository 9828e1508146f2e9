/**
 * Batch Ledger → Job Status read from another workflow while LLM Batch Call runs the job:
 * every poll (every 5 s of the run's time) answers, progress never goes backwards, and the
 * final figures are Batch Report's over the same job. Both ledger dialects.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as realDelay } from 'node:timers/promises';

import type { ICredentialDataDecryptedObject, IDataObject } from 'n8n-workflow';
import { afterAll, beforeAll, expect, it } from 'vitest';

import { resetSharedFlow } from '../../core/call/limiter/in-process';
import { closeAllStores, openStore, postgresConfigFromCredential } from '../../core/ledger';
import { REPORT_FIELD_DEFAULTS, reportOfItems } from '../../core/report';
import { reportOfJobStats } from '../../core/report/job-report';
import type { JobStatus } from '../../core/status/types';
import { router } from '../../nodes/BatchLedger/actions/router';
import { executeLlmBatchCall } from '../../nodes/LlmBatchCall/execute';
import { startSandbox, type Sandbox } from '../../sandbox/server';
import { FakeClock } from '../helpers/fake-clock';
import { mockExecute } from '../helpers/mock-execute';
import { createTestDatabase } from '../helpers/postgres';
import { emptyTally } from '../../core/status/job-heartbeat';

const ITEMS = 400;
const T0 = Date.parse('2026-03-01T10:00:00.000Z');

let sandbox: Sandbox;
beforeAll(async () => {
	sandbox = await startSandbox({
		seed: 5,
		latencyMs: { min: 5, max: 15 },
		faults: { status500: 0.05 },
	});
});
afterAll(async () => {
	await sandbox?.close();
	await closeAllStores();
});

// Every tenth prompt is refused (invalid_request): failures by code to count.
const records = Array.from({ length: ITEMS }, (_, i) => ({
	id: `R${i}`,
	text: `Summarise ticket ${i}.${i % 10 === 3 ? ' [[sandbox:status400]]' : ''}`,
}));

async function ledgerFor(kind: 'sqlite' | 'postgres') {
	const credentials: Record<string, ICredentialDataDecryptedObject> = {
		llmBatchOpenAiApi: { apiKey: 'k', baseUrl: `${sandbox.url}/v1` },
	};
	if (kind === 'sqlite') {
		const path = join(mkdtempSync(join(tmpdir(), 'job-status-')), 'ledger.sqlite');
		return {
			credentials,
			params: { ledgerStore: 'sqlite', ledgerSqlitePath: path },
			store: openStore({ kind, path }),
		};
	}
	const db = await createTestDatabase('jobstatus');
	credentials.llmBatchPostgresApi = { ...db, ssl: false };
	return {
		credentials,
		params: { ledgerStore: 'postgres' },
		store: openStore(postgresConfigFromCredential(credentials.llmBatchPostgresApi)),
	};
}

for (const kind of ['sqlite', 'postgres'] as const) {
	it(`Job Status polled every 5 s while the job runs (${kind}): answers each time, never goes back, ends at Batch Report's figures`, async () => {
		resetSharedFlow();
		sandbox.reset();
		const clock = new FakeClock(T0);
		const ledger = await ledgerFor(kind);
		const call = mockExecute({
			items: records,
			credentials: ledger.credentials,
			executionId: 'exec-41',
			parameters: {
				provider: 'openai',
				model: 'gpt-4o-mini',
				prompt: (_i: number, item: { json: IDataObject }) => item.json.text,
				recordId: (_i: number, item: { json: IDataObject }) => item.json.id,
				outputFormat: 'text',
				concurrency: 8,
				requestsPerMinute: 600_000,
				tokensPerMinute: 100_000_000,
				resultField: 'llm',
				ledgerJob: 'polled',
				...ledger.params,
				options: { progressIntervalSeconds: 0, maxTokens: 32, maxAttempts: 4 },
			},
		});
		const poll = async (): Promise<JobStatus> => {
			const m = mockExecute({
				credentials: ledger.credentials,
				executionId: 'watcher',
				parameters: {
					operation: 'jobStatus',
					ledgerJob: 'polled',
					stallMinutes: 5,
					...ledger.params,
				},
			});
			const [[item]] = await router(m.fns, { now: () => clock.now() });
			return item.json as unknown as JobStatus;
		};

		let settled = false;
		const running = executeLlmBatchCall(call.fns, { clock }).finally(() => (settled = true));
		const polls: Array<{ ms: number; status: JobStatus }> = [];
		while (!settled) {
			await clock.advance(5000);
			await realDelay(20); // the requests go on in real time between two polls
			const started = performance.now();
			const status = await poll();
			polls.push({ ms: performance.now() - started, status });
		}
		const [success, failed] = await running;
		const final = await poll();

		// Every poll answered with the job, and progress never went back.
		expect(polls.length).toBeGreaterThanOrEqual(3);
		// Until the run's first heartbeat (the store opening) the ledger knows no such job; from
		// then on every poll finds it.
		const first = polls.findIndex((p) => p.status.state !== 'not_found');
		expect(first).toBeGreaterThanOrEqual(0);
		expect(polls.slice(0, first).every((p) => p.status.done === 0)).toBe(true);
		const seen = polls.slice(first).map((p) => p.status);
		expect(seen.every((s) => s.job === 'polled' && s.state !== 'not_found')).toBe(true);
		expect(seen.some((s) => s.state === 'running' && s.done > 0 && s.done < ITEMS)).toBe(true);
		for (let i = 1; i < seen.length; i++) {
			expect(seen[i].done).toBeGreaterThanOrEqual(seen[i - 1].done);
			expect(seen[i].costUsd).toBeGreaterThanOrEqual(seen[i - 1].costUsd - 1e-12);
			const [a, b] = [seen[i - 1].series.at(-1)!, seen[i].series.at(-1)!];
			expect(b.done).toBeGreaterThanOrEqual(a.done);
		}
		for (const s of seen)
			for (let k = 1; k < s.series.length; k++)
				expect(s.series[k].done).toBeGreaterThanOrEqual(s.series[k - 1].done);
		expect(seen.filter((s) => s.state === 'running').every((s) => s.total === ITEMS)).toBe(true);

		// The end: the records' figures, as Batch Report gives them over the same job and items.
		const store = ledger.store;
		await store.init();
		const byJob = reportOfJobStats(await store.stats('polled'));
		const byItems = reportOfItems(
			[...success, ...failed].map((i) => i.json),
			REPORT_FIELD_DEFAULTS,
			{ finishedAt: clock.now() },
		)!;
		expect(success.length + failed.length).toBe(ITEMS);
		expect(final).toMatchObject({
			state: 'finished',
			total: ITEMS,
			done: ITEMS,
			succeeded: byJob.outcomes.success,
			failed: byJob.outcomes.failed,
			failedByCode: byJob.byErrorCode,
			inputTokens: byJob.tokens.input,
			outputTokens: byJob.tokens.output,
			pending: 0,
			processing: 0,
			etaMs: 0,
		});
		expect(final.succeeded).toBe(success.length);
		expect(final.failed).toBe(failed.length);
		expect(final.failedByCode).toEqual({ invalid_request: ITEMS / 10 });
		expect(final.failedByCode).toEqual(byItems.byErrorCode);
		expect(final.costUsd).toBeCloseTo(byJob.costUsd, 12);
		expect(final.costUsd).toBeCloseTo(byItems.costUsd, 12);
		expect(final.retries).toBeGreaterThan(0);
		expect(final.participants).toEqual([
			expect.objectContaining({
				execution: 'exec-41',
				node: 'LLM Batch Call',
				state: 'finished',
				done: ITEMS,
			}),
		]);
		expect(final.series.at(-1)).toMatchObject({ done: ITEMS, succeeded: success.length });
		expect(final.latencyMs.p50).not.toBeNull();
		console.log(
			`${kind}: ${polls.length} polls, slowest ${Math.max(...polls.map((p) => p.ms)).toFixed(1)} ms`,
		);
	}, 120_000);
}

it('Delete Job forgets the heartbeats too: Job Status of the name is not_found afterwards', async () => {
	const path = join(mkdtempSync(join(tmpdir(), 'job-status-del-')), 'ledger.sqlite');
	const store = openStore({ kind: 'sqlite', path });
	await store.init();
	const { heartbeatStoreFor } = await import('../../core/ledger/heartbeat');
	await heartbeatStoreFor(store).beat({
		job: 'gone',
		run: 'r1',
		execution: '9',
		worker: 'w:1',
		node: 'LLM Batch Call',
		state: 'finished',
		startedAt: new Date(T0).toISOString(),
		beatAt: new Date(T0).toISOString(),
		lastProgressAt: null,
		intervalMs: 10_000,
		...emptyTally(1),
		recentLatenciesMs: [],
	});
	const op = (operation: string) =>
		router(
			mockExecute({
				parameters: { operation, ledgerStore: 'sqlite', ledgerSqlitePath: path, ledgerJob: 'gone' },
			}).fns,
			{ now: () => T0 + 1000 },
		);
	const [[before]] = await op('jobStatus');
	expect(before.json).toMatchObject({ state: 'finished', participants: [{ execution: '9' }] });
	await op('deleteJob');
	const [[after]] = await op('jobStatus');
	expect(after.json).toMatchObject({ state: 'not_found', participants: [], series: [] });
});
