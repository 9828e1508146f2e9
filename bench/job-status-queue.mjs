// `npm run bench:job-status-queue [-- --items=20000 --chunk=1000 --rpm=18000 --worker-concurrency=10]`:
// Batch Ledger → Job Status polled every 5 s while a big job runs in real n8n queue mode (Redis +
// PostgreSQL + main + 3 workers, the packed package community-installed; example 05's chunked
// job). Each poll goes through a workflow (GET webhook → Batch Ledger Job Status → the JSON as the
// response) and is also read straight from the ledger (core/status/read.ts), each timed. Before
// the job, the same poll is timed with nothing running: n8n's own queue-mode webhook round trip
// (main enqueues, a worker runs it, main answers), the floor any poll in queue mode stands on. At
// the end the last status is set against the Batch Report the job sent.
//
// In queue mode a webhook's execution waits for a free worker slot like any other (a poll that
// awaits its answer is queued ahead of the chunks, priority 50 against 100, but still waits for a
// slot). `--worker-concurrency` is each worker's `--concurrency` (n8n's default 10): with fewer
// slots than the job's chunks (3 × 3 = 9 for 20 chunks), every slot runs a chunk and a poll waits
// for one to finish; with more (3 × 10 = 30), a slot is free for the poll.
//
// Prints a Markdown table; asserts nothing.
import { createRequire } from 'node:module';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import os from 'node:os';
import path from 'node:path';

import {
	assertN8nInstalled,
	freePort,
	importCredentials,
	importWorkflow,
	installPackage,
	packPackage,
	publishWorkflow,
	startSandbox,
	waitForWebhook,
} from '../scripts/n8n/lib.mjs';
import { startQueueTopology, startRedisServer } from '../scripts/n8n/queue.mjs';
import { BIG_JOB_HOOKS, bigJobWorkflow, queueCredentials } from '../scripts/n8n/queue-workflow.mjs';

const require = createRequire(import.meta.url);
const { Client } = require('pg');
const { openStore, closeAllStores } = require('../build/core/ledger/index.js');
const { readJobStatus } = require('../build/core/status/read.js');

const args = process.argv.slice(2);
const arg = (name, fallback) => {
	const v = args.find((a) => a.startsWith(`--${name}=`))?.split('=')[1];
	return v === undefined ? fallback : Number(v);
};
const ITEMS = arg('items', 20_000);
const CHUNK = arg('chunk', 1000);
const RPM = arg('rpm', 18_000);
const WORKERS = 3;
const WORKER_CONCURRENCY = arg('worker-concurrency', 10);
const IDLE_POLLS = arg('idle-polls', 12);
const POLL_MS = 5000;
const JOB = 'bench-status-big';
const STATUS_HOOK = 'llm-batch-status-bench';
const log = (line) => console.log(`[bench:job-status] ${line}`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** GET ?job= → Batch Ledger Job Status → its item as the response. */
function statusWorkflow() {
	return {
		id: 'llmBatchStatusBench',
		name: 'Job Status (bench)',
		nodes: [
			{
				id: 'hook',
				name: 'Status request',
				type: 'n8n-nodes-base.webhook',
				typeVersion: 2,
				position: [0, 0],
				webhookId: '3d1f8a2e-7b64-4c55-9e0a-1c2b3d4e5f60',
				parameters: { httpMethod: 'GET', path: STATUS_HOOK, responseMode: 'lastNode', options: {} },
			},
			{
				id: 'status',
				name: 'Job Status',
				type: 'n8n-nodes-llm-batch.batchLedger',
				typeVersion: 1,
				position: [240, 0],
				parameters: {
					operation: 'jobStatus',
					ledgerStore: 'postgres',
					ledgerJob: '={{ $json.query.job }}',
					expectedTotal: '={{ Number($json.query.total ?? 0) }}',
				},
				credentials: { llmBatchPostgresApi: { id: 'queuePg', name: 'Queue ledger' } },
			},
		],
		connections: { 'Status request': { main: [[{ node: 'Job Status', type: 'main', index: 0 }]] } },
		settings: {},
	};
}

/**
 * Where each poll's time went, from n8n's own execution rows (in order: the warm-up poll, the
 * idle polls, the job's polls): queued = main created the execution → a worker started it; run =
 * the worker ran the workflow (webhook + Job Status); the rest of the round trip is main (HTTP in,
 * saving the execution, enqueueing, hearing the result back over Redis, answering).
 */
async function pollPhases(pg) {
	const c = new Client({
		host: pg.host,
		port: pg.port,
		user: pg.user,
		password: pg.password,
		database: pg.database,
	});
	await c.connect();
	try {
		const { rows } = await c.query(
			`SELECT id, "createdAt", "startedAt", "stoppedAt" FROM execution_entity WHERE "workflowId" = $1 ORDER BY id`,
			['llmBatchStatusBench'],
		);
		return rows.map((r) => ({
			queuedMs: new Date(r.startedAt) - new Date(r.createdAt),
			runMs: new Date(r.stoppedAt) - new Date(r.startedAt),
			executionMs: new Date(r.stoppedAt) - new Date(r.createdAt),
		}));
	} finally {
		await c.end();
	}
}

const phasesLine = (label, phases, roundTrips) => {
	const part = (xs) => `p50 ${pctl(xs, 0.5).toFixed(0)}, max ${Math.max(...xs).toFixed(0)}`;
	const rest = phases.map((p, i) => roundTrips[i] - p.executionMs);
	return `| ${label} | queued for a worker ${part(phases.map((p) => p.queuedMs))} · run on the worker ${part(phases.map((p) => p.runMs))} · main's share ${part(rest)} (ms) | |`;
};

const pctl = (xs, q) => {
	const s = [...xs].sort((a, b) => a - b);
	return s[Math.max(0, Math.ceil(q * s.length) - 1)];
};

async function main() {
	assertN8nInstalled();
	const userFolder = mkdtempSync(path.join(os.tmpdir(), 'llm-batch-bench-status-'));
	const reports = [];
	const receiver = createServer((req, res) => {
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
	await new Promise((r) => receiver.listen(0, '127.0.0.1', r));
	const reportUrl = `http://127.0.0.1:${receiver.address().port}/report`;
	const limitsRedis = await startRedisServer();
	const sandbox = await startSandbox(['--port', '0', '--seed', '5', '--latency', '50-300']);
	let topo;
	try {
		log('packing and installing the package');
		await installPackage(userFolder, await packPackage(path.join(userFolder, 'pack')));
		const port = await freePort();
		const base = `http://localhost:${port}`;
		const files = {
			big: bigJobWorkflow({ baseUrl: base, reportUrl, rpm: RPM, chunkSize: CHUNK }),
			status: statusWorkflow(),
		};
		log(
			`starting Redis, PostgreSQL, main and ${WORKERS} workers (--concurrency=${WORKER_CONCURRENCY})`,
		);
		topo = await startQueueTopology(userFolder, {
			workers: WORKERS,
			concurrency: WORKER_CONCURRENCY,
			port,
			prepare: async (env, { pg: pgInfo }) => {
				await importCredentials(userFolder, queueCredentials(sandbox.url, limitsRedis, pgInfo), {
					env,
				});
				for (const [name, wf] of Object.entries(files)) {
					const file = path.join(userFolder, `${name}.json`);
					writeFileSync(file, JSON.stringify(wf));
					await importWorkflow(userFolder, file, { env });
					await publishWorkflow(userFolder, wf.id, { env });
				}
			},
		});
		for (const hook of [BIG_JOB_HOOKS.start, BIG_JOB_HOOKS.chunk]) await waitForWebhook(base, hook);
		await waitForWebhook(base, STATUS_HOOK, { method: 'GET' });
		const store = openStore({
			kind: 'postgres',
			host: topo.pg.host,
			port: topo.pg.port,
			user: topo.pg.user,
			password: topo.pg.password,
			database: topo.pg.database,
		});
		await store.init();

		// n8n's own round trip with nothing else running (the first poll warms the workflow up).
		const idle = [];
		for (let i = 0; i <= IDLE_POLLS; i++) {
			const t0 = performance.now();
			const r = await fetch(`${base}/webhook/${STATUS_HOOK}?job=${JOB}-idle&total=1`);
			await r.text();
			if (i > 0) idle.push(performance.now() - t0);
			await sleep(500);
		}
		log(`idle poll: p50 ${pctl(idle, 0.5).toFixed(0)} ms, max ${Math.max(...idle).toFixed(0)} ms`);

		const started = Date.now();
		const res = await fetch(`${base}/webhook/${BIG_JOB_HOOKS.start}`, {
			method: 'POST',
			headers: { 'content-type': 'application/json' },
			body: JSON.stringify({ job: JOB, n: ITEMS }),
		});
		log(`job of ${ITEMS} records in chunks of ${CHUNK} started: HTTP ${res.status}`);
		const polls = [];
		let backwards = 0;
		let failedPolls = 0;
		let last;
		let lastMove;
		for (;;) {
			const tick = Date.now();
			const t0 = performance.now();
			let viaWorkflow;
			try {
				const r = await fetch(`${base}/webhook/${STATUS_HOOK}?job=${JOB}&total=${ITEMS}`);
				viaWorkflow = r.ok ? await r.json() : undefined;
			} catch {
				viaWorkflow = undefined;
			}
			const workflowMs = performance.now() - t0;
			const t1 = performance.now();
			const direct = await readJobStatus(store, JOB, { now: Date.now(), expectedTotal: ITEMS });
			const directMs = performance.now() - t1;
			if (!viaWorkflow) failedPolls++;
			const s = viaWorkflow ?? direct;
			if (last && (s.done < last.done || direct.done < last.done)) backwards++;
			last = direct.done >= (s.done ?? 0) ? direct : s;
			const running = direct.participants.filter((p) => p.state === 'running').length;
			polls.push({ workflowMs, directMs, done: s.done, state: s.state, running });
			if (polls.length % 6 === 1)
				log(
					`${s.state} ${s.done}/${s.total} · ${Math.round(s.throughput.nowPerMinute)}/min · ETA ${s.etaMs === null ? '?' : Math.round(s.etaMs / 1000) + ' s'} · ${s.participants.filter((p) => p.state === 'running').length} running · poll ${workflowMs.toFixed(0)} ms (direct ${directMs.toFixed(0)} ms)`,
				);
			if (direct.state === 'finished' && direct.done >= ITEMS && reports.length > 0) break;
			if (!lastMove || direct.done > lastMove.done)
				lastMove = { done: direct.done, at: Date.now() };
			// A chunk lost before it ran (its dispatch failed) leaves the job short for good.
			if (Date.now() - lastMove.at > 60_000) {
				log(`no progress for 60 s at ${direct.done}/${ITEMS}: the job did not finish`);
				break;
			}
			await sleep(Math.max(0, POLL_MS - (Date.now() - tick)));
		}
		const seconds = (Date.now() - started) / 1000;
		const final = await readJobStatus(store, JOB, { now: Date.now(), expectedTotal: ITEMS });
		const report = reports.find((r) => r.items !== undefined) ?? reports[0];
		const wf = polls.map((p) => p.workflowMs);
		const dir = polls.map((p) => p.directMs);
		const over = wf.filter((ms) => ms > 200).length;
		const chunks = Math.ceil(ITEMS / CHUNK);
		const atOnce = Math.max(...polls.map((p) => p.running));
		const same =
			report &&
			final.succeeded === report.outcomes?.success &&
			final.failed === report.outcomes?.failed &&
			Math.abs(final.costUsd - report.costUsd) < 1e-9;
		console.log(
			`\nJob Status polled every 5 s during a ${ITEMS}-record job (${chunks} chunks of ${CHUNK}, ${WORKERS} workers × --concurrency=${WORKER_CONCURRENCY} = ${WORKERS * WORKER_CONCURRENCY} slots, ${RPM} RPM), ${seconds.toFixed(0)} s\n`,
		);
		console.log('| check | measured | target |');
		console.log('|---|---|---|');
		console.log(
			`| poll through a workflow (webhook → Job Status) | ${polls.length} polls, ${failedPolls} unanswered; p50 ${pctl(wf, 0.5).toFixed(0)} ms, p95 ${pctl(wf, 0.95).toFixed(0)} ms, max ${Math.max(...wf).toFixed(0)} ms | every poll ≤ 200 ms |`,
		);
		console.log(
			`| the same poll with no job running (n8n's queue-mode webhook round trip) | ${idle.length} polls; p50 ${pctl(idle, 0.5).toFixed(0)} ms, p95 ${pctl(idle, 0.95).toFixed(0)} ms, max ${Math.max(...idle).toFixed(0)} ms | |`,
		);
		console.log(`| polls over 200 ms during the job | ${over} of ${polls.length} | 0 |`);
		console.log(
			`| chunk executions running at once (most seen) vs worker slots | ${atOnce} of ${chunks} chunks vs ${WORKERS * WORKER_CONCURRENCY} slots | slots > chunks |`,
		);
		console.log(
			`| the same read straight from the ledger | p50 ${pctl(dir, 0.5).toFixed(0)} ms, p95 ${pctl(dir, 0.95).toFixed(0)} ms, max ${Math.max(...dir).toFixed(0)} ms | |`,
		);
		console.log(`| progress going back between polls | ${backwards} | 0 |`);
		console.log(
			`| final Job Status vs Batch Report | ${final.succeeded} ok / ${final.failed} failed / $${final.costUsd.toFixed(4)} vs ${report?.outcomes?.success} / ${report?.outcomes?.failed} / $${report?.costUsd?.toFixed?.(4)}: ${same ? 'equal' : 'DIFFERENT'} | equal |`,
		);
		const phases = await pollPhases(topo.pg);
		if (phases.length === 1 + idle.length + polls.length) {
			console.log(
				phasesLine('idle poll, where the time goes', phases.slice(1, 1 + idle.length), idle),
			);
			console.log(
				phasesLine('poll during the job, where the time goes', phases.slice(1 + idle.length), wf),
			);
		} else
			console.log(
				`| where the time goes | ${phases.length} status executions for ${1 + idle.length + polls.length} polls: not matched | |`,
			);
		console.log(
			`| participants | ${final.participants.length} listed; series ${final.series.length} points | |`,
		);
	} finally {
		await closeAllStores();
		await topo?.stop();
		await sandbox.stop();
		await limitsRedis.stop();
		receiver.close();
	}
}

main().catch((error) => {
	console.error(`[bench:job-status] failed: ${error.stack ?? error.message}`);
	process.exit(1);
});
