/**
 * examples/08-job-status-page.json and 09-watchdog.json in-process (WorkflowExecute) over a
 * SQLite ledger holding a job (the examples' PostgreSQL ledger swapped for a file): 08 answers
 * the webhook with the job's status page; 09 sends a stalled job to the alert stand-in, naming
 * the job and its last progress time, and a finished job to "All well".
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';

import { closeAllStores, openStore } from '../../core/ledger';
import type { LedgerWrite } from '../../core/ledger/types';
import type { PresentedStatus } from '../../core/status/present';
import { itemError, result } from '../core/ledger/fixtures';
import { runWorkflow, type WorkflowJson } from '../helpers/harness';

afterAll(async () => {
	await closeAllStores();
});

const JOB = 'big-job-demo';

function example(file: string, ledger: string): WorkflowJson {
	const wf = JSON.parse(
		readFileSync(join(__dirname, '../../examples', file), 'utf8'),
	) as WorkflowJson;
	for (const node of wf.nodes) {
		// In-process a schedule starts nothing: a manual trigger runs the workflow once.
		if (node.type === 'n8n-nodes-base.scheduleTrigger')
			Object.assign(node, { type: 'n8n-nodes-base.manualTrigger', typeVersion: 1, parameters: {} });
		if (node.type === 'n8n-nodes-llm-batch.batchLedger') {
			Object.assign(node.parameters, { ledgerStore: 'sqlite', ledgerSqlitePath: ledger });
			delete (node as { credentials?: unknown }).credentials;
		}
	}
	return wf;
}

/** 20 records written at 2026-12-06 10:05: 12 succeeded, 4 failed, and `open` still pending. */
async function ledger(open: number): Promise<string> {
	const path = join(mkdtempSync(join(tmpdir(), 'examples-status-')), 'ledger.sqlite');
	const store = openStore({ kind: 'sqlite', path });
	await store.init();
	const at = '2026-12-06T10:05:00.000Z';
	const writes: LedgerWrite[] = Array.from({ length: 20 }, (_, i): LedgerWrite => {
		if (i >= 20 - open) return { type: 'pending', recordId: `r${i}`, at };
		if (i < 16 - open || i >= 16)
			return { type: 'succeeded', result: result(`r${i}`, `h${i}`), at };
		return {
			type: 'failed',
			recordId: `r${i}`,
			promptHash: `h${i}`,
			error: itemError('schema_violation', 1),
			at,
		};
	});
	await store.writeBatch(JOB, writes);
	return path;
}

it('example 08 answers GET /webhook/llm-batch-status?job=… with the status page of that job', async () => {
	const { run, items } = await runWorkflow(example('08-job-status-page.json', await ledger(4)), {
		input: [{ json: { query: { job: JOB }, headers: {}, params: {}, body: {} } }],
	});
	expect(run.data.resultData.error?.message).toBeUndefined();
	const [status] = items('Job Status', 0).map((i) => i.json as unknown as PresentedStatus);
	expect(status).toMatchObject({ job: JOB, total: 20, done: 16, failed: 4, state: 'stalled' });
	expect(status.html).toMatch(/^<!doctype html>/);
	expect(status.html).toContain('data-field="done">16<');
	expect(status.html).toContain('data-refresh="10"');
	// The response node gets the page (in n8n it answers with $json.html, as text/html).
	expect(items('Respond with the page', 0).map((i) => i.json.html)).toEqual([status.html]);
});

it('example 09 sends a stalled job to the alert stand-in, naming the job and its last progress time', async () => {
	const { run, items } = await runWorkflow(example('09-watchdog.json', await ledger(4)), {});
	expect(run.data.resultData.error?.message).toBeUndefined();
	const alerted = items('Any alert?', 0).map((i) => i.json as unknown as PresentedStatus);
	expect(items('Any alert?', 1)).toEqual([]);
	expect(alerted).toHaveLength(1);
	// 16 done is under the example's 50 before the success rate is judged: only the stall.
	expect(alerted[0].alerts?.map((a) => [a.rule, a.job, a.lastProgressAt])).toEqual([
		['stalled', JOB, '2026-12-06T10:05:00.000Z'],
	]);
	expect(alerted[0].alerts?.[0].message).toMatch(
		/^Job big-job-demo: no progress for .+ \(last progress 2026-12-06 10:05:00 UTC; 16 of 20 done\)$/,
	);
	expect(items('Send alert (stand-in)', 0)).toHaveLength(1);
});

it('example 09 lets a finished job through to "All well"', async () => {
	const { run, items } = await runWorkflow(example('09-watchdog.json', await ledger(0)), {});
	expect(run.data.resultData.error?.message).toBeUndefined();
	expect(items('Any alert?', 0)).toEqual([]);
	const [well] = items('All well', 0).map((i) => i.json as unknown as PresentedStatus);
	expect(well).toMatchObject({ job: JOB, state: 'finished', done: 20, alerts: [] });
});
