/**
 * LLM Batch Job in a real n8n 2.41.1 through the CLI: example 04's two parts run as two
 * `n8n execute` runs (the 02:00 submit, then the 15-minute poll) over the package installed
 * in a fresh user folder, against the sandbox's batch API (a separate process, wall clock).
 * The batch expires with about 60 % done; the rest goes through LLM Batch Call (realtime).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
	freshUserFolder,
	n8n,
	outputs,
	printTimings,
	readWorkflow,
	startingAt,
	timed,
	type Sandbox,
} from './harness';
import { expectOneReport } from './report';

const FILE = '04-nightly-batch-half-price.json';

describe('LLM Batch Job in n8n (CLI): example 04 as two executions', () => {
	let userFolder: string;
	let cleanup = () => {};
	let sandbox: Sandbox;
	const example = readWorkflow(path.resolve(__dirname, '../../examples', FILE));

	beforeAll(async () => {
		({ userFolder, cleanup } = await timed('install package into fresh user folder', () =>
			freshUserFolder('batch-job'),
		));
		sandbox = await n8n.startSandbox(['--port', '0', '--seed', '7']);
		await n8n.importCredentials(userFolder, n8n.sandboxCredentials(sandbox.url));
		const dir = path.join(userFolder, 'workflows');
		mkdirSync(dir);
		for (const [trigger, id] of [
			['Every night at 02:00', 'e2eBatchSubmit04'],
			['Every 15 minutes', 'e2eBatchPoll04'],
		]) {
			writeFileSync(path.join(dir, `${id}.json`), JSON.stringify(startingAt(example, trigger, id)));
		}
		await timed('import:workflow', () => n8n.importWorkflowDir(userFolder, dir));
	});

	afterAll(async () => {
		await sandbox?.stop();
		cleanup();
		printTimings('batch-job.e2e');
	});

	it('submit, then poll: 60 % collected from the expired batch at half price, the rest completed in realtime, every ticket once', async () => {
		// 25 requests over 10 s, expiring after 6 s: 15 done when it expires.
		await sandbox.configure({ batch: { processingMs: 10_000, expiresAfterMs: 6_000 } });
		const submit = await timed('execute submit part', () =>
			n8n.executeWorkflow(userFolder, 'e2eBatchSubmit04'),
		);
		expect(submit.run.data.resultData.error?.message).toBeUndefined();
		expect(submit.exitCode).toBe(0);
		const [batches] = outputs(submit.run, 'Submit batch');
		expect(batches.map((b) => b.json.requestCount)).toEqual([25]);
		const started = Date.now();
		await new Promise((r) => setTimeout(r, Math.max(0, 6_500 - (Date.now() - started))));

		const poll = await timed('execute poll part', () =>
			n8n.executeWorkflow(userFolder, 'e2eBatchPoll04'),
		);
		expect(poll.run.data.resultData.error?.message).toBeUndefined();
		expect(poll.exitCode).toBe(0);
		expect(outputs(poll.run, 'Check status')[0][0].json).toMatchObject({
			batches: 1,
			allEnded: true,
		});
		const [success, failed] = outputs(poll.run, 'Collect results');
		expect(success.length + failed.length).toBe(25);
		expect(success.length).toBe(15);
		expect(failed.every((f) => (f.json.error as { code: string }).code === 'expired')).toBe(true);
		for (const s of success) {
			const llm = s.json.llm as { costUsd: number; batchId: string };
			expect(llm.batchId).toMatch(/^batch_/);
		}
		const [realtime] = outputs(poll.run, 'LLM Batch Call (realtime fallback)');
		expect(realtime).toHaveLength(10);
		const [valid = [], invalid = [], review = []] = outputs(poll.run, 'Validate Output');
		const [, dead = [], filtered = []] = outputs(poll.run, 'Route Failures');
		const finals = [...valid, ...invalid, ...review, ...dead, ...filtered];
		expect(new Set(finals.map((f) => f.json.ticketId)).size).toBe(25);
		expect(finals).toHaveLength(25);
		// One report of the poll run, though the batch answers and the realtime ones reach it
		// in separate rounds; every ticket answered (24 valid, 1 unsure for review with the
		// sandbox's seed), above the 90 % success rate, no error: no alert.
		const { report, alerts } = expectOneReport(poll.run, {
			valid,
			invalid,
			review,
			dead,
			filtered,
		});
		expect(report.outcomes.success + report.outcomes.review).toBe(25);
		expect(report.successRate).toBeGreaterThanOrEqual(0.9);
		expect(report.retries.items).toBe(10);
		expect(alerts).toEqual([]);

		// Polling again: nothing left to collect.
		const again = await n8n.executeWorkflow(userFolder, 'e2eBatchPoll04');
		expect(outputs(again.run, 'Check status')[0][0].json).toMatchObject({ batches: 0 });
	});
});
