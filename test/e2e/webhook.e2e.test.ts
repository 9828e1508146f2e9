// A webhook-started batch inside a running `n8n start`: the workflow is imported and published
// (activated) with the CLI, n8n is started, and a real HTTP POST starts the run.
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { plainReply } from '../../sandbox/reply';
import { freshUserFolder, n8n, printTimings, timed, type RunningN8n, type Sandbox } from './harness';

const fixtures = path.join(__dirname, 'fixtures');

describe('webhook-started batch in a running n8n', () => {
	let userFolder: string;
	let cleanup = () => {};
	let sandbox: Sandbox | undefined;
	let server: RunningN8n | undefined;

	beforeAll(async () => {
		({ userFolder, cleanup } = await timed('install package into fresh user folder', () => freshUserFolder('webhook')));
		sandbox = await n8n.startSandbox(['--port', '0', '--seed', '11']);
		await n8n.importCredentials(userFolder, n8n.sandboxCredentials(sandbox.url));
		await n8n.importWorkflow(userFolder, path.join(fixtures, 'webhook.workflow.json'));
		await n8n.publishWorkflow(userFolder, 'e2eFixtureHook001');
		const port = await n8n.freePort();
		server = await timed('n8n start until /healthz/readiness', () => n8n.startN8n(userFolder, { port }));
	});

	afterAll(async () => {
		await server?.stop();
		await sandbox?.stop();
		cleanup();
		printTimings('webhook.e2e');
	});

	it('answers a POST with one result per record, each belonging to its own record', async () => {
		const records = Array.from({ length: 5 }, (_, i) => ({ id: `w${i + 1}`, text: `Webhook record ${i + 1}` }));
		const res = await timed('POST webhook -> response', () =>
			fetch(`${server!.baseUrl}/webhook/e2e-llm-batch`, {
				method: 'POST',
				headers: { 'content-type': 'application/json' },
				body: JSON.stringify({ records }),
				signal: AbortSignal.timeout(120_000),
			}),
		);
		const body = await res.text();
		expect(res.status, body.slice(0, 500)).toBe(200);
		const items = JSON.parse(body) as Array<Record<string, unknown> & { llm: Record<string, unknown> }>;
		expect(items).toHaveLength(records.length);
		items.forEach((item, i) => {
			expect(item).toMatchObject(records[i]);
			expect(item.llm).toMatchObject({ recordId: records[i].id, text: plainReply(records[i].text), attempts: 1 });
		});
	});

	it('recorded the webhook execution as successful', async () => {
		const cookie = await n8n.login(server!.baseUrl);
		const res = await fetch(`${server!.baseUrl}/rest/executions?filter=${encodeURIComponent(JSON.stringify({ workflowId: 'e2eFixtureHook001' }))}`, {
			headers: { cookie },
			signal: AbortSignal.timeout(30_000),
		});
		expect(res.status).toBe(200);
		const { data } = (await res.json()) as { data: { results: Array<{ mode: string; status: string }> } };
		expect(data.results.map((e) => [e.mode, e.status])).toEqual([['webhook', 'success']]);
	});
});
