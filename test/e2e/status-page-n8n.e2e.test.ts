// Example 8 (the job status page) inside a running `n8n start`, in Chromium, while a job runs:
// a webhook starts LLM Batch Call on 120 records against a slow sandbox (SQLite ledger, job
// "e2e-status"), and the page at /webhook/llm-batch-status?job=e2e-status shows progress, ETA
// and both charts, updates its numbers without a reload (n8n serves it under its sandbox CSP)
// and logs no console error. The screenshot goes to test/e2e/artifacts/status-page-n8n.png.
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

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

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const EXAMPLE = path.join(__dirname, '..', '..', 'examples', '08-job-status-page.json');
const artifacts = path.join(__dirname, 'artifacts');
const JOB = 'e2e-status';
const RECORDS = 120;

/** Example 8 on a SQLite ledger file (no PostgreSQL here), refreshing every 2 s. */
function statusWorkflow(ledgerPath: string): WorkflowJson {
	const workflow = readWorkflow(EXAMPLE);
	for (const node of workflow.nodes)
		if (node.type === 'n8n-nodes-llm-batch.batchLedger') {
			Object.assign(node.parameters, {
				ledgerStore: 'sqlite',
				ledgerSqlitePath: ledgerPath,
				refreshSeconds: 2,
			});
			delete (node as { credentials?: unknown }).credentials;
		}
	return workflow;
}

/** A webhook that starts the job and answers at once: LLM Batch Call over RECORDS records. */
function jobWorkflow(ledgerPath: string): WorkflowJson {
	const node = (name: string, type: string, x: number, parameters: object, extra = {}) => ({
		id: `e2e-status-${x}`,
		name,
		type,
		typeVersion: type.endsWith('webhook') ? 2 : type.endsWith('set') ? 3.4 : 1,
		position: [x, 0] as [number, number],
		parameters,
		...extra,
	});
	return {
		id: 'e2eStatusJob001',
		name: 'e2e: job for the status page',
		nodes: [
			node(
				'Start job',
				'n8n-nodes-base.webhook',
				0,
				{
					httpMethod: 'POST',
					path: 'llm-batch-status-e2e-job',
					responseMode: 'onReceived',
					options: {},
				},
				{ webhookId: '0c6a2f1e-4b7d-4e55-9a61-2e2f4b8d7c99' },
			),
			node('Make Records', 'n8n-nodes-base.set', 220, {
				assignments: {
					assignments: [
						{
							id: 'a1',
							name: 'records',
							value: `={{ Array.from({ length: ${RECORDS} }, (_, i) => ({ id: 'r' + i, text: 'Classify ticket number ' + i })) }}`,
							type: 'array',
						},
					],
				},
				options: {},
			}),
			node('Split Records', 'n8n-nodes-base.splitOut', 440, {
				fieldToSplitOut: 'records',
				options: {},
			}),
			node(
				'LLM Batch Call',
				'n8n-nodes-llm-batch.llmBatchCall',
				660,
				{
					provider: 'openai',
					model: 'gpt-4o-mini',
					prompt: '={{ $json.text }}',
					recordId: '={{ $json.id }}',
					concurrency: 2,
					ledgerStore: 'sqlite',
					ledgerSqlitePath: ledgerPath,
					ledgerJob: JOB,
				},
				{
					credentials: {
						llmBatchOpenAiApi: { id: 'llmSandbox', name: 'LLM Sandbox (OpenAI-compatible)' },
					},
				},
			),
		],
		connections: {
			'Start job': { main: [[{ node: 'Make Records', type: 'main', index: 0 }]] },
			'Make Records': { main: [[{ node: 'Split Records', type: 'main', index: 0 }]] },
			'Split Records': { main: [[{ node: 'LLM Batch Call', type: 'main', index: 0 }]] },
		},
		settings: { executionOrder: 'v1' },
	} as unknown as WorkflowJson;
}

describe('example 8: the job status page in a running n8n, in Chromium', () => {
	let userFolder: string;
	let cleanup = () => {};
	let sandbox: Sandbox | undefined;
	let server: RunningN8n | undefined;
	let browser: Browser | undefined;

	beforeAll(async () => {
		mkdirSync(artifacts, { recursive: true });
		({ userFolder, cleanup } = await timed('install package into fresh user folder', () =>
			freshUserFolder('status-page'),
		));
		const ledgerPath = path.join(
			mkdtempSync(path.join(os.tmpdir(), 'status-page-')),
			'ledger.sqlite',
		);
		// About 0.4 s an answer, two at a time: the job runs for about 25 s.
		sandbox = await n8n.startSandbox(['--port', '0', '--seed', '3', '--latency', '300-500']);
		await n8n.importCredentials(userFolder, n8n.sandboxCredentials(sandbox.url));
		for (const workflow of [statusWorkflow(ledgerPath), jobWorkflow(ledgerPath)]) {
			const file = path.join(userFolder, `${workflow.id}.json`);
			writeFileSync(file, JSON.stringify(workflow));
			await n8n.importWorkflow(userFolder, file);
			await n8n.publishWorkflow(userFolder, workflow.id);
		}
		server = await timed('n8n start until editor accessible', async () =>
			n8n.startN8n(userFolder, { port: await n8n.freePort() }),
		);
		await n8n.waitForWebhook(server.baseUrl, 'llm-batch-status', { method: 'GET' });
		await n8n.waitForWebhook(server.baseUrl, 'llm-batch-status-e2e-job');
		if (!existsSync(CHROMIUM))
			throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium`);
		browser = await chromium.launch({
			executablePath: CHROMIUM,
			args: [
				'--no-sandbox',
				'--disable-gpu',
				'--disable-background-networking',
				'--disable-component-update',
				'--disable-sync',
				'--no-first-run',
				'--disable-quic',
			],
		});
	});

	afterAll(async () => {
		await browser?.close();
		await server?.stop();
		await sandbox?.stop();
		cleanup();
		printTimings('status-page-n8n.e2e');
	});

	it('shows the running job and updates its numbers without a reload, with no console error', async () => {
		const start = await fetch(`${server!.baseUrl}/webhook/llm-batch-status-e2e-job`, {
			method: 'POST',
			signal: AbortSignal.timeout(30_000),
		});
		expect(start.status).toBe(200);

		const page = await browser!.newPage({ viewport: { width: 390, height: 844 } });
		const problems: string[] = [];
		page.on('console', (m) => {
			if (m.type() === 'error') problems.push(`console: ${m.text()}`);
		});
		page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
		let navigations = 0;
		page.on('framenavigated', (f) => {
			if (f === page.mainFrame()) navigations++;
		});
		const done = () =>
			page
				.locator('[data-field="done"]')
				.textContent()
				.then((t) => Number((t ?? '').replace(/,/g, '')));

		// The job's first records reach the ledger within a few seconds of the start.
		await page.goto(`${server!.baseUrl}/webhook/llm-batch-status?job=${JOB}`);
		await page.waitForFunction(
			"document.querySelector('[data-field=state]').textContent === 'running' && Number(document.querySelector('[data-field=done]').textContent.replace(/,/g, '')) > 0",
			undefined,
			{ timeout: 60_000 },
		);
		const first = await done();
		expect(first).toBeLessThan(RECORDS);
		expect(await page.locator('[data-field="total"]').textContent()).toBe(String(RECORDS));
		expect(await page.locator('main svg').count()).toBe(2);

		// Numbers move in the same document: the script swapped them in.
		await page.waitForFunction(
			`Number(document.querySelector('[data-field=done]').textContent.replace(/,/g, '')) >= ${first + 10}`,
			undefined,
			{ timeout: 60_000 },
		);
		expect(await page.locator('#refresh-note').textContent()).toMatch(/^Updated /);
		// The ETA needs the rate the heartbeats (every 10 s) report: a duration once there is one.
		await page.waitForFunction(
			"/^\\d+(s|m \\d+s)$/.test(document.querySelector('[data-field=eta]').textContent)",
			undefined,
			{ timeout: 30_000 },
		);
		await page.screenshot({ path: path.join(artifacts, 'status-page-n8n.png'), fullPage: true });
		expect(navigations).toBe(1);
		expect(problems).toEqual([]);

		// The page stops refreshing once the job has finished.
		await page.waitForFunction(
			"document.getElementById('status').getAttribute('data-state') === 'finished'",
			undefined,
			{ timeout: 120_000 },
		);
		expect(await done()).toBe(RECORDS);
		expect(navigations).toBe(1);
		expect(problems).toEqual([]);
		await page.close();
	});
});
