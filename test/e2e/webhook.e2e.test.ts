// Example 2 (webhook-started batch) inside a running `n8n start`: imported and published
// (activated) with the CLI, n8n started, and a real HTTP POST runs the batch and gets the report.
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { expectedReply } from '../../sandbox/reply';
import { WEBHOOK_EXAMPLE_RECORDS } from '../../scripts/n8n/webhook-example.mjs';
import {
	freshUserFolder,
	n8n,
	printTimings,
	readWorkflow,
	timed,
	type RunningN8n,
	type Sandbox,
	type WorkflowJson,
} from './harness';

const EXAMPLE = path.join(__dirname, '..', '..', 'examples', '02-webhook-batch.json');

describe('example 2: webhook-started batch in a running n8n', () => {
	let userFolder: string;
	let cleanup = () => {};
	let sandbox: Sandbox | undefined;
	let server: RunningN8n | undefined;
	let workflow: WorkflowJson;

	beforeAll(async () => {
		workflow = readWorkflow(EXAMPLE);
		({ userFolder, cleanup } = await timed('install package into fresh user folder', () =>
			freshUserFolder('webhook'),
		));
		sandbox = await n8n.startSandbox(['--port', '0', '--seed', '11', '--latency', '5-40']);
		await n8n.importCredentials(userFolder, n8n.sandboxCredentials(sandbox.url));
		await n8n.importWorkflow(userFolder, EXAMPLE);
		await n8n.publishWorkflow(userFolder, workflow.id);
		const port = await n8n.freePort();
		server = await timed('n8n start until editor accessible', () =>
			n8n.startN8n(userFolder, { port }),
		);
		const hook = workflow.nodes.find((n) => n.type === 'n8n-nodes-base.webhook')!;
		await timed('webhook registered after start', () =>
			n8n.waitForWebhook(server!.baseUrl, String(hook.parameters.path)),
		);
	});

	afterAll(async () => {
		await server?.stop();
		await sandbox?.stop();
		cleanup();
		printTimings('webhook.e2e');
	});

	it('answers a POST of records with the batch report; each record lands in one outcome', async () => {
		const hook = workflow.nodes.find((n) => n.type === 'n8n-nodes-base.webhook')!;
		const call = workflow.nodes.find((n) => n.type === 'n8n-nodes-llm-batch.llmBatchCall')!;
		const validate = workflow.nodes.find((n) => n.type === 'n8n-nodes-llm-batch.validateOutput')!;
		const records = Array.from({ length: 12 }, (_, i) => ({
			ticketId: `W${String(i + 1).padStart(3, '0')}`,
			subject: `Webhook ticket ${i + 1}`,
			body:
				i === 4 ? 'too short' : `Customer message number ${i + 1}: the export button does nothing.`,
		}));
		records.push({ ...records[0] }); // a duplicate record id: Batch Prepare rejects (dedupe by id)
		// What the sandbox will answer for each accepted record, and so where Validate Output sends it.
		const schema = JSON.parse(String(call.parameters.jsonSchema)) as object;
		const threshold = Number(validate.parameters.confidenceThreshold);
		const accepted = records.slice(0, 12).filter((r) => r.body.length >= 10);
		const expectReview = accepted.filter((r) => {
			const output = expectedReply({ prompt: `Subject: ${r.subject}\n\n${r.body}`, schema })
				.output as { confidence: number };
			return output.confidence < threshold;
		}).length;

		const res = await timed('POST webhook -> report', () =>
			fetch(`${server!.baseUrl}/webhook/${String(hook.parameters.path)}`, {
				method: 'POST',
				headers: { 'content-type': 'application/json' },
				body: JSON.stringify({ records }),
				signal: AbortSignal.timeout(120_000),
			}),
		);
		const body = await res.text();
		expect(res.status, body.slice(0, 500)).toBe(200);
		const report = JSON.parse(body) as {
			items: number;
			outcomes: Record<string, number>;
			byErrorCode: Record<string, number>;
			markdown: string;
		};
		expect(report.items).toBe(records.length);
		expect(report.outcomes).toEqual({
			success: accepted.length - expectReview,
			review: expectReview,
			invalid: 0,
			failed: 0,
			filtered: 0,
			rejected: records.length - accepted.length,
		});
		expect(report.markdown).toContain('**Batch report**');
		const stats = await sandbox!.stats();
		expect(stats).toMatchObject({ paidSuccesses: accepted.length, duplicateSuccesses: 0 });
	});

	it('recorded the run as a successful webhook execution', async () => {
		const cookie = await n8n.login(server!.baseUrl);
		const filter = encodeURIComponent(JSON.stringify({ workflowId: workflow.id }));
		const res = await fetch(`${server!.baseUrl}/rest/executions?filter=${filter}`, {
			headers: { cookie },
			signal: AbortSignal.timeout(30_000),
		});
		expect(res.status).toBe(200);
		const { data } = (await res.json()) as {
			data: { results: Array<{ mode: string; status: string }> };
		};
		expect(data.results.map((e) => [e.mode, e.status])).toEqual([['webhook', 'success']]);
	});

	it('answers the two tickets of the curl that npm start and the README print with 2 successes', async () => {
		const hook = workflow.nodes.find((n) => n.type === 'n8n-nodes-base.webhook')!;
		const res = await fetch(`${server!.baseUrl}/webhook/${String(hook.parameters.path)}`, {
			method: 'POST',
			headers: { 'content-type': 'application/json' },
			body: JSON.stringify({ records: WEBHOOK_EXAMPLE_RECORDS }),
			signal: AbortSignal.timeout(120_000),
		});
		const body = await res.text();
		expect(res.status, body.slice(0, 500)).toBe(200);
		const report = JSON.parse(body) as { items: number; outcomes: Record<string, number> };
		expect(report.items).toBe(2);
		expect(report.outcomes).toEqual({
			success: 2,
			review: 0,
			invalid: 0,
			failed: 0,
			filtered: 0,
			rejected: 0,
		});
	});

	it('logged no stack trace and no failed call to an online service', () => {
		const log = server!.output();
		expect(log).not.toMatch(/^\s+at /m);
		expect(log).not.toMatch(/ENOTFOUND|EAI_AGAIN|not registered/);
	});
});
