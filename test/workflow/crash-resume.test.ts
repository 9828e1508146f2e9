/**
 * The crash test: a 2,000-record workflow with the SQLite ledger runs in a child process and
 * is killed with SIGKILL about half way; a second run of the same workflow finishes the job.
 * The sandbox runs here, in the test process, so its counters outlive the child.
 *
 * Asserted: every record ends succeeded exactly once in the ledger; the sandbox was paid at
 * most once per record plus no more than the requests in flight at the kill (≤ concurrency);
 * the second run called nothing for records the first run had finished.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { SqliteLedgerStore } from '../../core/ledger/sqlite';
import type { LedgerRecord } from '../../core/ledger/types';
import { expectedReply, promptDigest, startSandbox, type Sandbox } from '../../sandbox/server';
import { crashId, crashPrompt } from './crash-resume.child';

const RECORDS = 2000;
const CONCURRENCY = 16;
const JOB = 'crash-test';
const ROOT = resolve(__dirname, '../..');

interface ChildRun {
	child: ChildProcess;
	exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
	stdout: () => string;
	stderr: () => string;
}

/**
 * The child script and the package sources it imports, bundled by esbuild (already here as
 * vitest's transformer) into one CommonJS file; node_modules stay external, as in a real n8n.
 */
function bundleChild(): string {
	const outfile = join(mkdtempSync(join(tmpdir(), 'crash-child-')), 'child.cjs');
	execFileSync(
		join(ROOT, 'node_modules/.bin/esbuild'),
		[
			join(ROOT, 'test/workflow/crash-resume.child.ts'),
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

function runChild(script: string, config: object): ChildRun {
	const child = spawn(process.execPath, [script], {
		cwd: ROOT,
		env: {
			...process.env,
			NODE_PATH: join(ROOT, 'node_modules'),
			LLM_BATCH_CRASH_CHILD: JSON.stringify(config),
			N8N_USER_FOLDER: mkdtempSync(join(tmpdir(), 'n8n-crash-')),
		},
		stdio: ['ignore', 'pipe', 'pipe'],
	});
	let out = '';
	let err = '';
	child.stdout?.on('data', (c: Buffer) => (out += c.toString()));
	child.stderr?.on('data', (c: Buffer) => (err += c.toString()));
	const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) =>
		child.on('exit', (code, signal) => res({ code, signal })),
	);
	return { child, exit, stdout: () => out, stderr: () => err };
}

async function allRecords(store: SqliteLedgerStore): Promise<LedgerRecord[]> {
	const out: LedgerRecord[] = [];
	let after: string | undefined;
	for (;;) {
		const page = await store.list(JOB, { afterRecordId: after, limit: 1000 });
		if (page.length === 0) return out;
		out.push(...page);
		after = page[page.length - 1].recordId;
	}
}

describe('crash and resume with the ledger', () => {
	let sandbox: Sandbox;
	beforeAll(async () => {
		// ~2,000 / 16 × 40 ms ≈ 5 s for a whole run.
		sandbox = await startSandbox({ seed: 3, latencyMs: { min: 30, max: 50 } });
	});
	afterAll(async () => sandbox?.close());

	it('SIGKILL at half way, run again: every record succeeded once, nothing paid twice beyond what was in flight', async () => {
		const ledgerPath = join(mkdtempSync(join(tmpdir(), 'ledger-crash-')), 'ledger.sqlite');
		const config = {
			sandboxUrl: sandbox.url,
			ledgerPath,
			job: JOB,
			records: RECORDS,
			concurrency: CONCURRENCY,
		};
		const reader = new SqliteLedgerStore({ kind: 'sqlite', path: ledgerPath });
		const digestOf = new Map<string, string>(); // record ID -> prompt digest
		for (let i = 0; i < RECORDS; i++) digestOf.set(crashId(i), promptDigest(crashPrompt(i)));

		// Run 1: killed once the ledger holds half of the results.
		const script = bundleChild();
		const first = runChild(script, config);
		let succeededAtKill = -1;
		let inFlightAtKill = -1;
		const deadline = Date.now() + 90_000;
		while (Date.now() < deadline) {
			const ended = await Promise.race([
				first.exit.then(() => true),
				new Promise<boolean>((r) => setTimeout(() => r(false), 25)),
			]);
			if (ended) break;
			try {
				await reader.init();
				const stats = await reader.stats(JOB);
				if (stats.succeeded >= RECORDS / 2) {
					first.child.kill('SIGKILL');
					succeededAtKill = stats.succeeded;
					inFlightAtKill = sandbox.stats().inFlight;
					break;
				}
			} catch {
				// The child has not created the ledger yet.
			}
		}
		const firstExit = await first.exit;
		expect(
			firstExit,
			`first run ended on its own before the kill:\n${first.stdout()}\n${first.stderr()}`,
		).toEqual({ code: null, signal: 'SIGKILL' });
		// Requests the dead child left in flight still finish on the "provider" (and are billed).
		await new Promise((r) => setTimeout(r, 200));
		const run1 = sandbox.stats();
		const paid1 = { ...run1.successesByPrompt };

		const afterKill = await allRecords(reader);
		const doneInRun1 = new Set(
			afterKill.filter((r) => r.status === 'succeeded').map((r) => r.recordId),
		);
		const processingAtKill = afterKill.filter((r) => r.status === 'processing').length;
		console.log(
			`[crash] killed at ${succeededAtKill} succeeded in the ledger (${doneInRun1.size} after the kill, ${processingAtKill} processing); ` +
				`sandbox: ${run1.paidSuccesses} paid, ${inFlightAtKill} in flight at the kill`,
		);
		expect(doneInRun1.size).toBeGreaterThanOrEqual(RECORDS / 2);
		expect(doneInRun1.size).toBeLessThan(RECORDS);
		expect(processingAtKill).toBeLessThanOrEqual(CONCURRENCY);
		// Everything the ledger says is done was paid for: no result appears without a call.
		for (const id of doneInRun1) expect(paid1[digestOf.get(id) ?? '']).toBe(1);

		// Run 2: the same workflow, to the end.
		sandbox.reset();
		const second = runChild(script, config);
		const secondExit = await second.exit;
		expect(secondExit, second.stderr()).toEqual({ code: 0, signal: null });
		const summary = JSON.parse(second.stdout().trim().split('\n').pop() ?? '{}') as {
			status: string;
			success: number;
			failed: number;
		};
		expect(summary).toEqual({ status: 'success', success: RECORDS, failed: 0 });
		const run2 = sandbox.stats();
		const paid2 = run2.successesByPrompt;

		// The second run made no call for records the first one finished …
		for (const id of doneInRun1) expect(paid2[digestOf.get(id) ?? ''] ?? 0).toBe(0);
		// … and exactly one call for each of the others (no faults configured).
		expect(run2.requests).toBe(RECORDS - doneInRun1.size);
		expect(run2.paidSuccesses).toBe(RECORDS - doneInRun1.size);

		// Paid at most once per record, plus no more than what was in flight at the kill.
		let paidTwice = 0;
		for (const digest of digestOf.values()) {
			const total = (paid1[digest] ?? 0) + (paid2[digest] ?? 0);
			expect(total).toBeGreaterThanOrEqual(1);
			if (total > 1) paidTwice += total - 1;
		}
		console.log(
			`[crash] paid twice: ${paidTwice} (concurrency ${CONCURRENCY}); total paid ${run1.paidSuccesses + run2.paidSuccesses} for ${RECORDS} records`,
		);
		expect(paidTwice).toBeLessThanOrEqual(CONCURRENCY);
		expect(run1.paidSuccesses + run2.paidSuccesses).toBeLessThanOrEqual(RECORDS + CONCURRENCY);

		// The ledger: every record succeeded exactly once, with its own answer.
		const final = await allRecords(reader);
		expect(final).toHaveLength(RECORDS);
		expect(new Set(final.map((r) => r.recordId)).size).toBe(RECORDS);
		const stats = await reader.stats(JOB);
		expect({
			total: stats.total,
			succeeded: stats.succeeded,
			failed: stats.failed,
			processing: stats.processing,
			pending: stats.pending,
		}).toEqual({
			total: RECORDS,
			succeeded: RECORDS,
			failed: 0,
			processing: 0,
			pending: 0,
		});
		for (let i = 0; i < RECORDS; i++) {
			const record = final[i];
			expect(record.recordId).toBe(crashId(i));
			expect(record.result?.recordId).toBe(crashId(i));
			expect(record.result?.text).toBe(expectedReply({ prompt: crashPrompt(i) }).text);
		}
		await reader.close();
	});
});
