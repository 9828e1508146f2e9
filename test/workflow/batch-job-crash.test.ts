/**
 * kill -9 between Submit and Collect: Submit runs in a child process that is SIGKILLed once
 * it has submitted; rerunning Submit then submits nothing, and Collect collects every record
 * once.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { startSandbox, type Sandbox } from '../../sandbox/server';
import { runWorkflow, type WorkflowJson } from '../helpers/harness';
import { jobCrashId, jobCrashPrompt, startNode, submitNode } from './batch-job-crash.child';

const ROOT = resolve(__dirname, '../..');
const RECORDS = 3000;
const BATCH = 1000;
let sandbox: Sandbox;
// Starts at the real time: the nodes run on the system clock, and adopting a batch after a crash
// matches the provider's creation time against the ledger's.
let t = Date.now();

let childBundle: string;

beforeAll(async () => {
	sandbox = await startSandbox({ now: () => t, batch: { processingMs: 600_000 } });
	childBundle = bundle();
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
	const child = spawn(process.execPath, [childBundle], {
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

describe.each(['openai', 'anthropic'] as const)(
	'kill -9 inside Submit, after the provider accepted a batch: %s',
	(provider) => {
		it('the rerun adopts the orphan batch by its nonce: no record submitted twice, all collected once', async () => {
			sandbox.batch.reset();
			// The provider's clock back at the real time: the orphan is matched by its creation time
			// against the intent's (Anthropic: within the create timeout).
			t = Date.now();
			const ledgerPath = join(mkdtempSync(join(tmpdir(), 'batch-orphan-')), 'ledger.sqlite');
			const child = spawn(process.execPath, [childBundle], {
				cwd: ROOT,
				env: {
					...process.env,
					NODE_PATH: join(ROOT, 'node_modules'),
					LLM_BATCH_JOB_CRASH_CHILD: JSON.stringify({
						sandboxUrl: sandbox.url,
						ledgerPath,
						records: RECORDS,
						batchSize: BATCH,
						provider,
						killAfterAccept: true,
					}),
					N8N_USER_FOLDER: mkdtempSync(join(tmpdir(), 'n8n-batch-orphan-')),
				},
				stdio: ['ignore', 'pipe', 'pipe'],
			});
			let out = '';
			child.stdout.on('data', (c: Buffer) => (out += c.toString()));
			const signal = await new Promise<NodeJS.Signals | null>((res) =>
				child.on('exit', (_c, s) => res(s)),
			);
			expect(signal).toBe('SIGKILL');
			expect(out).not.toContain('submitted');
			// The provider has the first batch; the ledger never heard its ID.
			expect(sandbox.batch.stats().requestsReceived).toBe(BATCH);

			const credentials = {
				llmBatchOpenAiApi: { apiKey: 'sandbox-key', baseUrl: `${sandbox.url}/v1` },
				llmBatchAnthropicApi: { apiKey: 'sandbox-key', baseUrl: sandbox.url },
			};
			const input = Array.from({ length: RECORDS }, (_, i) => ({
				json: { id: jobCrashId(i), text: jobCrashPrompt(i) },
			}));
			const submit: WorkflowJson = {
				nodes: [startNode, submitNode(ledgerPath, BATCH, provider)],
				connections: { Start: { main: [[{ node: 'LLM Batch Job', type: 'main', index: 0 }]] } },
			};
			const again = await runWorkflow(submit, { input, credentials });
			const out0 = again.items('LLM Batch Job', 0);
			// Two new batches for the records never sent; the orphan's records skipped: adopted at
			// once by the nonce in its metadata (OpenAI), or held until it has ended and its
			// custom_ids carry the nonce (Anthropic: no metadata).
			expect(out0.filter((b) => b.json.batchId !== null)).toHaveLength(RECORDS / BATCH - 1);
			const held = out0.find((b) => b.json.batchId === null)?.json;
			expect(provider === 'openai' ? held?.inLiveBatch : held?.awaitingCreate).toBe(BATCH);
			expect(sandbox.batch.stats().requestsReceived).toBe(RECORDS);

			t += 600_000;
			const collectNode = submitNode(ledgerPath, BATCH, provider);
			collectNode.parameters = { ...collectNode.parameters, operation: 'collect' };
			const got = await runWorkflow(
				{ nodes: [startNode, collectNode], connections: submit.connections },
				{ credentials },
			);
			const ids = got.items('LLM Batch Job', 0).map((s) => s.json.id);
			expect(got.items('LLM Batch Job', 1)).toEqual([]);
			expect(ids.length).toBe(RECORDS);
			expect(new Set(ids).size).toBe(RECORDS);
			const stats = sandbox.batch.stats();
			expect(stats.requestsReceived).toBe(RECORDS);
			expect([...stats.received.values()].every((n) => n === 1)).toBe(true);
		});
	},
);
