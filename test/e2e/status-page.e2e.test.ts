// The status page in a real browser (Debian chromium + playwright-core), served the way n8n's
// Respond to Webhook serves HTML: under n8n's sandbox CSP (an opaque origin) with the request's
// origin echoed as the allowed one. A job moves between requests; the page must show its
// progress, ETA and both charts, update the numbers without a reload, and log no error.
// The screenshot goes to test/e2e/artifacts/status-page.png.
import { mkdirSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { renderStatusPage } from '../../core/status/page';
import { iso, runningStatus, series } from '../core/status/fixture';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const artifacts = path.join(__dirname, 'artifacts');
/** n8n 2.41's Content-Security-Policy for HTML a webhook answers with. */
const N8N_SANDBOX_CSP =
	'sandbox allow-downloads allow-forms allow-modals allow-orientation-lock allow-pointer-lock allow-popups allow-popups-to-escape-sandbox allow-presentation allow-scripts allow-top-navigation-by-user-activation allow-top-navigation-to-custom-protocols';

/** The job as the n-th request sees it: 100 more items done per request. */
function statusAt(n: number) {
	const done = 600 + n * 100;
	const failed = Math.floor(done / 10);
	return runningStatus({
		done,
		succeeded: done - failed,
		failed,
		pending: 2000 - done - 16,
		etaMs: (2000 - done) * 1000,
		lastProgressAt: iso(600_000 + n * 5_000),
		checkedAt: iso(605_000 + n * 5_000),
		series: series(21 + n),
	});
}

describe('status page in Chromium', () => {
	let server: Server;
	let browser: Browser;
	let url: string;
	let requests = 0;

	beforeAll(async () => {
		mkdirSync(artifacts, { recursive: true });
		server = createServer((req, res) => {
			const html = renderStatusPage(statusAt(requests++), { refreshSeconds: 1 });
			res.writeHead(200, {
				'Content-Type': 'text/html; charset=utf-8',
				'Content-Security-Policy': N8N_SANDBOX_CSP,
				...(req.headers.origin ? { 'Access-Control-Allow-Origin': req.headers.origin } : {}),
			});
			res.end(html);
		});
		await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
		url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/webhook/llm-batch-status?job=tickets-2026-12`;
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
		await new Promise((resolve) => server?.close(resolve));
	});

	it('shows progress, ETA and both charts, and updates the numbers without a reload', async () => {
		const page = await browser.newPage({ viewport: { width: 390, height: 844 } });
		const problems: string[] = [];
		page.on('console', (m) => {
			if (m.type() === 'error' || m.type() === 'warning') problems.push(`${m.type()}: ${m.text()}`);
		});
		page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
		let navigations = 0;
		page.on('framenavigated', (f) => {
			if (f === page.mainFrame()) navigations++;
		});

		await page.goto(url);
		const done = page.locator('[data-field="done"]');
		expect(await done.textContent()).toBe('600');
		expect(await page.locator('[data-field="eta"]').textContent()).toBe('23m 20s');
		expect(await page.locator('main svg').count()).toBe(2);

		// Two refreshes later the numbers have moved, in the same document.
		// Evaluated in the page (a string: this project's types know no DOM).
		await page.waitForFunction(
			"Number(document.querySelector('[data-field=done]').textContent.replace(/,/g, '')) >= 800",
			undefined,
			{ timeout: 15_000 },
		);
		expect(await page.locator('[data-field="eta"]').textContent()).not.toBe('23m 20s');
		expect(await page.locator('#refresh-note').textContent()).toMatch(/^Updated /);
		expect(await page.locator('main svg').count()).toBe(2);
		expect(navigations).toBe(1);
		expect(problems).toEqual([]);
		await page.screenshot({ path: path.join(artifacts, 'status-page.png'), fullPage: true });
		await page.close();
	});
});
