/**
 * kill -9 between Submit and Collect: Submit runs in a child process that is SIGKILLed once
 * it has submitted; rerunning Submit then submits nothing, and Collect collects every record
 * once.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';

import { startSandbox, type Sandbox } from '../../sandbox/server';
import { runWorkflow, type WorkflowJson } from '../helpers/harness';
import { jobCrashId, startNode, submitNode } from './batch-job-crash.child';

const ROOT = resolve(__dirname, '../..');
const RECORDS = 3000;
const BATCH = 1000;
let sandbox: Sandbox;
let t = Date.parse('2026-01-01T02:00:00Z');

beforeAll(async () => {
	sandbox = await startSandbox({ now: () => t, batch: { processingMs: 600_000 } });
});
afterAll(async () => sandbox?.close());

function bundle(): string {
	const outfile = join(mkdtempSync(join(tmpdir(), 'batch-crash-child-')), 'child.cjs');
	execFileSync(
		join(ROOT, 'node_modules/.bin/esbuild'),
		[
			join(ROOT, 'test/workflow/batch-job-crash.child.ts'),
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

it('kill -9 between Submit and Collect, then both again: no record submitted twice, all collected once', async () => {
	const ledgerPath = join(mkdtempSync(join(tmpdir(), 'batch-crash-')), 'ledger.sqlite');
	const child = spawn(process.execPath, [bundle()], {
		cwd: ROOT,
		env: {
			...process.env,
			NODE_PATH: join(ROOT, 'node_modules'),
			LLM_BATCH_JOB_CRASH_CHILD: JSON.stringify({
				sandboxUrl: sandbox.url,
				ledgerPath,
				records: RECORDS,
				batchSize: BATCH,
			}),
			N8N_USER_FOLDER: mkdtempSync(join(tmpdir(), 'n8n-batch-crash-')),
		},
		stdio: ['ignore', 'pipe', 'pipe'],
	});
	let out = '';
	let err = '';
	child.stderr.on('data', (c: Buffer) => (err += c.toString()));
	const exited = new Promise<NodeJS.Signals | null>((res) => child.on('exit', (_c, s) => res(s)));
	await new Promise<void>((res, rej) => {
		child.stdout.on('data', (c: Buffer) => {
			out += c.toString();
			if (out.includes('submitted')) res();
		});
		child.on('exit', () => rej(new Error(`child exited before submitting:\n${out}\n${err}`)));
	});
	child.kill('SIGKILL');
	expect(await exited).toBe('SIGKILL');
	expect(out).toContain(`submitted ${RECORDS / BATCH}`);
	expect(sandbox.batch.stats().requestsReceived).toBe(RECORDS);

	const credentials = {
		llmBatchOpenAiApi: { apiKey: 'sandbox-key', baseUrl: `${sandbox.url}/v1` },
	};
	const input = Array.from({ length: RECORDS }, (_, i) => ({
		json: { id: jobCrashId(i), text: `Record ${i}: summarise order ${i * 13} in one line` },
	}));
	const submit: WorkflowJson = {
		nodes: [startNode, submitNode(ledgerPath, BATCH)],
		connections: { Start: { main: [[{ node: 'LLM Batch Job', type: 'main', index: 0 }]] } },
	};
	const again = await runWorkflow(submit, { input, credentials });
	expect(again.items('LLM Batch Job', 0).map((b) => b.json.inLiveBatch)).toEqual([RECORDS]);

	t += 600_000;
	const collectNode = submitNode(ledgerPath, BATCH);
	collectNode.parameters = { ...collectNode.parameters, operation: 'collect' };
	const collect: WorkflowJson = {
		nodes: [startNode, collectNode],
		connections: submit.connections,
	};
	const got = await runWorkflow(collect, { credentials });
	const ids = got.items('LLM Batch Job', 0).map((s) => s.json.id);
	expect(got.items('LLM Batch Job', 1)).toEqual([]);
	expect(ids.length).toBe(RECORDS);
	expect(new Set(ids).size).toBe(RECORDS);
	const stats = sandbox.batch.stats();
	expect(stats.requestsReceived).toBe(RECORDS);
	expect([...stats.received.values()].every((n) => n === 1)).toBe(true);
});
