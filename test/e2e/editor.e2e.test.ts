// Editor smoke test in a real browser (Debian chromium + playwright-core): log in to a running
// n8n, open the imported examples, check that each of our nodes renders with its parameters and
// without an issues badge, and open LLM Batch Call's panel. Screenshots go to test/e2e/artifacts/.
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
	freshUserFolder,
	n8n,
	printTimings,
	readWorkflow,
	timed,
	type RunningN8n,
	type WorkflowJson,
} from './harness';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const artifacts = path.join(__dirname, 'artifacts');
const OUR_PREFIX = 'n8n-nodes-llm-batch.';

// The examples when they exist; before that, the e2e fixture that uses LLM Batch Call.
function workflowsToOpen(): WorkflowJson[] {
	const examples = n8n
		.exampleFiles()
		.map(readWorkflow)
		.filter((w) => w.nodes.some((n) => n.type.startsWith(OUR_PREFIX)));
	if (examples.length > 0) return examples;
	return [readWorkflow(path.join(__dirname, 'fixtures', 'llm-batch-call.workflow.json'))];
}

describe('n8n editor with the package', () => {
	let userFolder: string;
	let cleanup = () => {};
	let server: RunningN8n | undefined;
	let context: BrowserContext | undefined;
	let profileDir: string | undefined;
	let page: Page;
	const workflows = workflowsToOpen();

	beforeAll(async () => {
		if (!existsSync(CHROMIUM))
			throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium (.ci/run does this)`);
		mkdirSync(artifacts, { recursive: true });
		({ userFolder, cleanup } = await timed('install package into fresh user folder', () =>
			freshUserFolder('editor'),
		));
		// The editor never calls the provider here; the credentials only need to exist.
		await n8n.importCredentials(userFolder, n8n.sandboxCredentials('http://127.0.0.1:9'));
		for (const w of workflows) {
			const file = path.join(userFolder, `${w.id}.json`);
			writeFileSync(file, JSON.stringify({ ...w, active: false }));
			await n8n.importWorkflow(userFolder, file);
		}
		const port = await n8n.freePort();
		server = await timed('n8n start until editor accessible', () =>
			n8n.startN8n(userFolder, { port }),
		);
		profileDir = mkdtempSync(path.join(os.tmpdir(), 'llm-batch-chromium-'));
		context = await chromium.launchPersistentContext(profileDir, {
			executablePath: CHROMIUM,
			headless: true,
			viewport: { width: 1600, height: 1000 },
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
		page = context.pages()[0] ?? (await context.newPage());
		page.setDefaultTimeout(60_000);
	});

	afterAll(async () => {
		await context?.close();
		if (profileDir) rmSync(profileDir, { recursive: true, force: true });
		await server?.stop();
		cleanup();
		printTimings('editor.e2e');
	});

	it('logs in with the owner account', async () => {
		await timed('browser login', async () => {
			await page.goto(`${server!.baseUrl}/signin`);
			await page.fill('input[name=emailOrLdapLoginId]', n8n.OWNER.email);
			await page.fill('input[name=password]', n8n.OWNER.password);
			await page.click('[data-test-id=form-submit-button]');
			await page.waitForURL((url) => !url.pathname.startsWith('/signin'));
		});
		expect(new URL(page.url()).pathname).not.toMatch(/signin|setup/);
	});

	for (const workflow of workflows) {
		it(`renders every node of "${workflow.name}" with its parameters and no issues badge`, async () => {
			await page.goto(`${server!.baseUrl}/workflow/${workflow.id}`);
			await page.waitForSelector('[data-test-id=canvas-node]');
			await page.waitForTimeout(500); // let the canvas fit the view before the picture
			await page.screenshot({ path: path.join(artifacts, `canvas-${workflow.id}.png`) });
			const rendered = await page.$$eval('[data-test-id=canvas-node]', (els) =>
				els.map((e) => ({
					name: e.getAttribute('data-node-name'),
					type: e.getAttribute('data-node-type'),
				})),
			);
			// Every node of the file is on the canvas under its type (sticky notes render apart).
			expect(rendered.sort((a, b) => a.name!.localeCompare(b.name!))).toEqual(
				workflow.nodes
					.filter((n) => n.type !== 'n8n-nodes-base.stickyNote')
					.map((n) => ({ name: n.name, type: n.type }))
					.sort((a, b) => a.name.localeCompare(b.name)),
			);

			const ours = workflow.nodes.filter((n) => n.type.startsWith(OUR_PREFIX));
			expect(ours.length).toBeGreaterThan(0);
			for (const node of ours) {
				const canvasNode = page.locator(
					`[data-test-id=canvas-node][data-node-name="${node.name}"]`,
				);
				await expect.poll(() => canvasNode.count()).toBe(1);
				expect(
					await canvasNode
						.locator('[data-test-id=node-issues], [data-test-id=node-setup-required]')
						.count(),
					`${node.name} shows an issues badge`,
				).toBe(0);
				// Its panel: a known node type shows its parameters (an unknown one shows "install this node").
				await canvasNode.dblclick();
				const ndv = page.locator('[data-test-id=ndv]');
				await ndv.locator('[data-test-id=node-parameters]').waitFor();
				const labels = await ndv
					.locator('[data-test-id=node-parameters] [data-test-id=input-label]')
					.allInnerTexts();
				expect(labels.length, `${node.name} shows no parameters`).toBeGreaterThan(0);
				expect(await ndv.innerText()).not.toMatch(/not currently installed|Install this node/i);
				await ndv.locator('[data-test-id=ndv-close-button]').click();
				await ndv.waitFor({ state: 'hidden' });
			}
		});
	}

	it("opens LLM Batch Call's panel with its parameters and the sandbox credential", async () => {
		const workflow = workflows.find((w) =>
			w.nodes.some((n) => n.type === `${OUR_PREFIX}llmBatchCall`),
		);
		expect(workflow, 'no imported workflow uses LLM Batch Call').toBeDefined();
		const node = workflow!.nodes.find((n) => n.type === `${OUR_PREFIX}llmBatchCall`)!;
		await page.goto(`${server!.baseUrl}/workflow/${workflow!.id}`);
		const canvasNode = page.locator(`[data-test-id=canvas-node][data-node-name="${node.name}"]`);
		await canvasNode.dblclick();
		const ndv = page.locator('[data-test-id=ndv]');
		await ndv.locator('[data-test-id=node-parameters]').waitFor();
		await page.waitForTimeout(500);
		await page.screenshot({ path: path.join(artifacts, 'ndv-llm-batch-call.png') });
		const labels = (
			await ndv.locator('[data-test-id=node-parameters] [data-test-id=input-label]').allInnerTexts()
		).map((l) => l.split('\n')[0].trim());
		for (const label of [
			'Model',
			'System Prompt',
			'Prompt',
			'Record ID',
			'Output Format',
			'Concurrency',
			'Requests per Minute',
			'Tokens per Minute',
			'Result Field',
			'Options',
			'Ledger',
		]) {
			expect(labels, `parameter label "${label}"`).toContain(label);
		}
		if (node.parameters.outputFormat === 'json') expect(labels).toContain('JSON Schema');
		// The example's values are shown, and the credential picked is the imported sandbox one.
		expect(await ndv.locator('[data-test-id=parameter-input-model] input').inputValue()).toBe(
			String(node.parameters.model),
		);
		expect(await ndv.locator('[data-test-id=credentials-label]').innerText()).toMatch(/Credential/);
		expect(await ndv.locator('[data-test-id=node-credentials-select] input').inputValue()).toBe(
			'LLM Sandbox (OpenAI-compatible)',
		);
		await ndv.locator('[data-test-id=ndv-close-button]').click();
		// Both outputs are named on the canvas.
		expect(await canvasNode.innerText()).toMatch(/Success[\s\S]*Failed/);
	});

	// The codex files (<Node>.node.json) are what the node search matches besides the name. This
	// test caught that n8n 2.41's node panel hides a community node whose codex says category
	// "AI" (the AI sub-views list only their own node kinds): not even its name found it.
	it('finds our nodes in the node search by the words users type', async () => {
		await page.goto(`${server!.baseUrl}/workflow/${workflows[0].id}`);
		await page.waitForSelector('[data-test-id=canvas-node]');
		await page.waitForTimeout(1000);
		const found: Record<string, string[]> = {};
		for (const term of [
			'rate limit',
			'Anthropic',
			'dead letter',
			'retry',
			'batch',
			'LLM Batch',
			'Batch Ledger',
		]) {
			// The canvas's "Open nodes panel" button (top right); the panel stays open between searches.
			const search = page.locator('[data-test-id=node-creator-search-bar]');
			if (!(await search.isVisible()))
				await page.locator('[data-test-id=node-creator-plus-button]').click();
			await search.fill(term);
			await page.waitForTimeout(800); // the list filters as one types; "no results" has no item to wait for
			found[term] = (
				await page.locator('[data-test-id=node-creator-item-name]').allInnerTexts()
			).map((t) => t.trim());
			if (term === 'LLM Batch')
				await page.screenshot({ path: path.join(artifacts, 'node-search-llm-batch.png') });
		}
		expect(found['rate limit']).toContain('LLM Batch Call');
		expect(found.Anthropic).toContain('LLM Batch Call');
		expect(found['dead letter']).toEqual(
			expect.arrayContaining(['Route Failures', 'Batch Ledger']),
		);
		expect(found.retry).toEqual(expect.arrayContaining(['LLM Batch Call', 'Route Failures']));
		expect(found.batch).toEqual(
			expect.arrayContaining(['LLM Batch Call', 'Batch Prepare', 'Batch Report', 'Batch Ledger']),
		);
	});
});
