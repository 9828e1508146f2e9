// What the queue-mode benches share (bench/queue-mode.mjs, bench/job-status-queue.mjs): the
// topology they start — a loopback receiver for the reports a job POSTs, a Redis of its own for
// the shared limits (so a bench can stop it), the sandbox, the packed package community-installed,
// Redis + PostgreSQL + main + N workers with the bench's workflows imported and published — and
// the loop that follows a job until it finishes or stops making progress.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import os from 'node:os';
import path from 'node:path';

import {
	freePort,
	importCredentials,
	importWorkflow,
	installPackage,
	packPackage,
	publishWorkflow,
	startSandbox,
	waitForWebhook,
} from './lib.mjs';
import { startQueueTopology, startRedisServer } from './queue.mjs';
import { queueCredentials } from './queue-workflow.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** An HTTP receiver on a free loopback port; every JSON body POSTed to it lands in `reports`. */
export async function startReportReceiver() {
	const reports = [];
	const server = createServer((req, res) => {
		let body = '';
		req.on('data', (c) => (body += c));
		req.on('end', () => {
			try {
				reports.push(JSON.parse(body));
			} catch {
				reports.push({ unparsable: body.slice(0, 200) });
			}
			res.end('{}');
		});
	});
	await new Promise((r) => server.listen(0, '127.0.0.1', r));
	return {
		url: `http://127.0.0.1:${server.address().port}/report`,
		reports,
		close: () => new Promise((r) => server.close(() => r())),
	};
}

/**
 * The bench topology. `workflows({ baseUrl, reportUrl })` returns the workflows to import and
 * publish (each an n8n workflow object with an id); `hooks` are the webhooks to wait for
 * (`{ path, method }`). Returns everything a bench drives, and `stop()`, which stops it all and
 * deletes the user folder. `limitsRedis` is the Redis holding the shared limits, apart from the
 * queue's own.
 */
export async function startBenchTopology({
	label,
	workers = 3,
	concurrency = 10,
	sandboxArgs = [],
	workflows,
	hooks = [],
	log = () => undefined,
}) {
	const userFolder = mkdtempSync(path.join(os.tmpdir(), `llm-batch-bench-${label}-`));
	const stops = [() => rmSync(userFolder, { recursive: true, force: true })];
	const stop = async () => {
		for (const s of stops.splice(0).reverse()) await Promise.resolve(s()).catch(() => undefined);
	};
	try {
		const receiver = await startReportReceiver();
		stops.push(receiver.close);
		const limitsRedis = await startRedisServer();
		stops.push(limitsRedis.stop);
		const sandbox = await startSandbox(['--port', '0', ...sandboxArgs]);
		stops.push(sandbox.stop);
		log('packing and installing the package');
		const tarball = await packPackage(path.join(userFolder, 'pack'));
		await installPackage(userFolder, tarball);
		const port = await freePort();
		const baseUrl = `http://localhost:${port}`;
		const files = workflows({ baseUrl, reportUrl: receiver.url });
		log(`starting Redis, PostgreSQL, main and ${workers} workers (--concurrency=${concurrency})`);
		const topo = await startQueueTopology(userFolder, {
			workers,
			concurrency,
			port,
			prepare: async (env, { pg }) => {
				await importCredentials(userFolder, queueCredentials(sandbox.url, limitsRedis, pg), {
					env,
				});
				for (const wf of files) {
					const file = path.join(userFolder, `${wf.id}.json`);
					writeFileSync(file, JSON.stringify(wf));
					await importWorkflow(userFolder, file, { env });
					await publishWorkflow(userFolder, wf.id, { env });
				}
			},
		});
		stops.push(topo.stop);
		for (const h of hooks) await waitForWebhook(baseUrl, h.path, { method: h.method ?? 'POST' });
		const { host, port: pgPort, user, password, database } = topo.pg;
		return {
			userFolder,
			tarball,
			baseUrl,
			topo,
			sandbox,
			limitsRedis,
			reports: receiver.reports,
			reportUrl: receiver.url,
			pg: { host, port: pgPort, user, password, database },
			stop,
		};
	} catch (error) {
		await stop();
		throw error;
	}
}

/**
 * Follows a job: calls `tick()` every `intervalMs` (measured from the start of one tick to the
 * next) until it answers `{ finished: true }`. `tick` reports `progress` (a count that grows while
 * the job moves) and `busy` (work still under way that does not show as progress yet). After
 * `stallMs` without either, `stalled(state)` decides: `'again'` (it restarted the job; keep
 * following) or anything else (give up). Resolves with the last state and `finished`.
 */
export async function followJob({ tick, intervalMs, stallMs = 60_000, timeoutMs, stalled }) {
	const started = Date.now();
	let lastProgress;
	let movedAt = Date.now();
	for (;;) {
		const at = Date.now();
		const state = await tick();
		if (state.finished) return { ...state, finished: true };
		if (state.progress !== lastProgress || state.busy) {
			lastProgress = state.progress;
			movedAt = Date.now();
		}
		if (Date.now() - movedAt > stallMs) {
			if ((await stalled?.(state)) !== 'again') return { ...state, finished: false };
			movedAt = Date.now();
		}
		if (timeoutMs !== undefined && Date.now() - started > timeoutMs)
			throw new Error(`the job did not finish within ${timeoutMs / 1000} s`);
		await sleep(Math.max(0, intervalMs - (Date.now() - at)));
	}
}

/** Nearest-rank percentile. */
export function pctl(xs, q) {
	const s = [...xs].sort((a, b) => a - b);
	return s[Math.max(0, Math.ceil(q * s.length) - 1)];
}

/** The machine's load averages (1, 5, 15 min), as recorded beside every measurement. */
export function loadAverage() {
	return os
		.loadavg()
		.map((l) => l.toFixed(2))
		.join(' / ');
}
