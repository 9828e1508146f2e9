/**
 * The watchdog on a job that stalls: the sandbox stops answering after 40 of 80 records (every
 * later prompt hangs), LLM Batch Call keeps its heartbeat, and a schedule reads Batch Ledger Job
 * Status with Alerts every 5 minutes (Stalled After 10 minutes). The first alert comes within one
 * period after the 10 minutes and names the job and its last progress time.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as realDelay } from 'node:timers/promises';

import type { IDataObject } from 'n8n-workflow';
import { afterAll, beforeAll, expect, it } from 'vitest';

import { resetSharedFlow } from '../../core/call/limiter/in-process';
import { closeAllStores } from '../../core/ledger';
import type { PresentedStatus } from '../../core/status/present';
import { router } from '../../nodes/BatchLedger/actions/router';
import { executeLlmBatchCall } from '../../nodes/LlmBatchCall/execute';
import { startSandbox, type Sandbox } from '../../sandbox/server';
import { FakeClock } from '../helpers/fake-clock';
import { mockExecute } from '../helpers/mock-execute';

const T0 = Date.parse('2026-12-06T10:00:00.000Z');
const MINUTE = 60_000;
const RECORDS = 80;
const ANSWERED = 40;

let sandbox: Sandbox;
beforeAll(async () => {
	// A hung request stays hung for the whole test (real time).
	sandbox = await startSandbox({ seed: 9, latencyMs: { min: 1, max: 3 }, hangMs: 600_000 });
});
afterAll(async () => {
	await sandbox?.close();
	await closeAllStores();
});

it('alerts within one 5-minute period after the job has made no progress for 10 minutes', async () => {
	resetSharedFlow();
	const clock = new FakeClock(T0);
	const ledgerSqlitePath = join(mkdtempSync(join(tmpdir(), 'watchdog-stall-')), 'ledger.sqlite');
	const ledger = { ledgerStore: 'sqlite', ledgerSqlitePath, ledgerJob: 'stall' };
	const credentials = { llmBatchOpenAiApi: { apiKey: 'k', baseUrl: `${sandbox.url}/v1` } };
	const stop = new AbortController();
	const call = mockExecute({
		items: Array.from({ length: RECORDS }, (_, i) => ({
			id: `R${i}`,
			text: `Summarise ticket ${i}.${i >= ANSWERED ? ' [[sandbox:hang]]' : ''}`,
		})),
		credentials,
		signal: stop.signal,
		parameters: {
			provider: 'openai',
			model: 'gpt-4o-mini',
			prompt: (_i: number, item: { json: IDataObject }) => item.json.text,
			recordId: (_i: number, item: { json: IDataObject }) => item.json.id,
			outputFormat: 'text',
			concurrency: 1,
			requestsPerMinute: 600_000,
			tokensPerMinute: 100_000_000,
			...ledger,
			options: { progressIntervalSeconds: 0, maxTokens: 16, maxAttempts: 1, timeoutSeconds: 7200 },
		},
	});
	const watchdog = async (): Promise<PresentedStatus> => {
		const m = mockExecute({
			credentials,
			parameters: {
				operation: 'jobStatus',
				...ledger,
				stallMinutes: 10,
				alerts: { minSuccessRatePct: 95, alertWhenStalled: true },
			},
		});
		const [[item]] = await router(m.fns, { now: () => clock.now() });
		return item.json as unknown as PresentedStatus;
	};

	const running = executeLlmBatchCall(call.fns, { clock }).catch((e: unknown) => e);
	// The answered part runs on its own (its time does not pass on the fake clock) until the
	// first hung prompt holds the only slot.
	for (let i = 0; i < 200 && (await watchdog()).done < ANSWERED; i++) await realDelay(25);
	expect(await watchdog()).toMatchObject({ done: ANSWERED, state: 'running', alerts: [] });

	// The schedule: every 5 minutes from here.
	const runs: Array<{ at: number; status: PresentedStatus }> = [];
	for (let run = 0; run < 5; run++) {
		await clock.advance(5 * MINUTE);
		await realDelay(10);
		runs.push({ at: clock.now(), status: await watchdog() });
	}
	stop.abort();
	await running;

	const first = runs.find((r) => (r.status.alerts ?? []).length > 0)!;
	expect(runs.every((r) => r.status.done === ANSWERED)).toBe(true);
	// The last progress as the job's heartbeat reports it (its first beat after the 40th answer).
	const lastProgressAt = runs[0].status.lastProgressAt!;
	expect(runs.every((r) => r.status.lastProgressAt === lastProgressAt)).toBe(true);
	expect(Date.parse(lastProgressAt) - T0).toBeLessThanOrEqual(10_000);
	const stillMs = first.at - Date.parse(lastProgressAt);
	expect(stillMs).toBeGreaterThan(10 * MINUTE);
	expect(stillMs).toBeLessThanOrEqual(15 * MINUTE);
	expect(first.status.alerts).toEqual([
		{
			rule: 'stalled',
			job: 'stall',
			threshold: 0,
			actual: Math.floor(stillMs / MINUTE),
			lastProgressAt,
			message: expect.stringMatching(
				new RegExp(
					`^Job stall: no progress for 1[0-5]m \\d+s \\(last progress ${lastProgressAt.slice(0, 19).replace('T', ' ')} UTC; 40 of 80 done\\)$`,
				),
			),
		},
	]);
	// Every later run alerts again until the job moves.
	expect(runs.slice(runs.indexOf(first)).every((r) => r.status.alerts?.length === 1)).toBe(true);
	expect(runs.slice(0, runs.indexOf(first)).every((r) => r.status.alerts?.length === 0)).toBe(true);
}, 60_000);
