// `npm run bench:job-status-queue [-- --items=20000 --chunk=1000 --rpm=18000 --worker-concurrency=10]`:
// Batch Ledger → Job Status polled every 5 s while a big job runs in real n8n queue mode (Redis +
// PostgreSQL + main + 3 workers, the packed package community-installed; example 05's chunked
// job), two ways at once:
//
//  - status instance (the recommended setup): a small regular-mode n8n beside the topology (its
//    own SQLite database, port and runner broker port, the same package) serving example 08 — the
//    HTML page — and the same workflow answering JSON, its PostgreSQL ledger credential pointing
//    at the job's ledger. Its webhooks run in its own process: no queue, no worker.
//  - queue main (the comparison): the same poll as a workflow on the queue-mode main, which
//    enqueues it; a worker runs it; main answers.
//
// Each status-instance poll is also read straight from the ledger (core/status/read.ts) and
// timed. Before the job, every poll is timed with nothing running (the queue arm then measures
// n8n's own queue-mode webhook round trip). Where each poll's time goes comes from n8n's own
// execution rows (queued for a worker, run, the rest is the HTTP side). At the end the last
// status-instance poll is set against the Batch Report the job sent.
//
// `--worker-concurrency` is each worker's `--concurrency` (n8n's default 10): with fewer slots than
// the job's chunks a queue-arm poll waits for a chunk to finish; the status instance does not care.
// `uptime`'s load is recorded with the measurement (the machine is shared). `--instance-nice=-10`
// raises the status instance's CPU priority (root; a stand-in for a CPU of its own),
// `--instance-env=K=V,…` sets its environment.
//
// Prints a Markdown table; asserts nothing.
import { createRequire } from 'node:module';
import os from 'node:os';
import { DatabaseSync } from 'node:sqlite';

import { assertN8nInstalled } from '../scripts/n8n/lib.mjs';
import { followJob, loadAverage, pctl, startBenchTopology } from '../scripts/n8n/queue-bench.mjs';
import { startStatusInstance } from '../scripts/n8n/queue-status-instance.mjs';
import {
	BIG_JOB_HOOKS,
	STATUS_PAGE_HOOKS,
	bigJobWorkflow,
	statusPageCredentials,
	statusPageWorkflows,
} from '../scripts/n8n/queue-workflow.mjs';

const require = createRequire(import.meta.url);
const { Client } = require('pg');
const { openStore, closeAllStores } = require('../build/core/ledger/index.js');
const { readJobStatus } = require('../build/core/status/read.js');
const { heartbeatStoreFor } = require('../build/core/ledger/heartbeat/index.js');

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
const INSTANCE_NICE = arg('instance-nice', undefined);
// `--instance-env=EXECUTIONS_DATA_SAVE_ON_SUCCESS=none,…`: settings of the status instance only.
const INSTANCE_ENV = Object.fromEntries(
	(args.find((a) => a.startsWith('--instance-env='))?.slice('--instance-env='.length) ?? '')
		.split(',')
		.filter(Boolean)
		.map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
);
const POLL_MS = 5000;
const JOB = 'bench-status-big';
const QUEUE_HOOK = 'llm-batch-status-bench';
const QUEUE_WORKFLOW_ID = 'llmBatchStatusBench';
const log = (line) => console.log(`[bench:job-status] ${line}`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** GET ?job= → Batch Ledger Job Status → its item as the response (the poll on queue main). */
function queueStatusWorkflow() {
	return {
		id: QUEUE_WORKFLOW_ID,
		name: 'Job Status (bench)',
		nodes: [
			{
				id: 'hook',
				name: 'Status request',
				type: 'n8n-nodes-base.webhook',
				typeVersion: 2,
				position: [0, 0],
				webhookId: '3d1f8a2e-7b64-4c55-9e0a-1c2b3d4e5f60',
				parameters: { httpMethod: 'GET', path: QUEUE_HOOK, responseMode: 'lastNode', options: {} },
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

/** One timed GET; `parse` turns the body into what the bench checks (undefined: unanswered). */
async function timedGet(url, parse) {
	const t0 = performance.now();
	let value;
	try {
		const r = await fetch(url, { signal: AbortSignal.timeout(120_000) });
		const body = await r.text();
		value = r.ok ? parse(body) : undefined;
	} catch {
		value = undefined;
	}
	return { ms: performance.now() - t0, value };
}

/** The numbers the status page shows (data-field spans), enough to follow progress. */
function pageNumbers(html) {
	const field = (name) => html.match(new RegExp(`data-field="${name}">([^<]*)<`))?.[1];
	const count = (name) => Number((field(name) ?? '').replace(/,/g, ''));
	const done = count('done');
	return Number.isFinite(done) && field('state') !== undefined
		? { done, total: count('total'), failed: count('failed'), state: field('state') }
		: undefined;
}

/**
 * Where each poll's time went, from n8n's execution rows of one workflow, in order: queued =
 * created → started (a worker took it; ~0 in regular mode), run = started → stopped (webhook +
 * Job Status + answer). The rest of a round trip is the HTTP side (and, in queue mode, main
 * saving, enqueueing and hearing the result back over Redis).
 */
function phasesOf(rows) {
	const at = (v) =>
		v instanceof Date ? v.getTime() : Date.parse(/Z|[+-]\d\d:?\d\d$/.test(v) ? v : `${v}Z`);
	return rows.map((r) => ({
		queuedMs: at(r.startedAt) - at(r.createdAt),
		runMs: at(r.stoppedAt) - at(r.startedAt),
		executionMs: at(r.stoppedAt) - at(r.createdAt),
	}));
}

const EXECUTIONS_SQL = `SELECT id, "createdAt", "startedAt", "stoppedAt" FROM execution_entity WHERE "workflowId" = $1 ORDER BY id`;

async function queuePhases(pg) {
	const c = new Client(pg);
	await c.connect();
	try {
		return phasesOf((await c.query(EXECUTIONS_SQL, [QUEUE_WORKFLOW_ID])).rows);
	} finally {
		await c.end();
	}
}

function instancePhases(database, workflowId) {
	const db = new DatabaseSync(database, { readOnly: true });
	try {
		return phasesOf(db.prepare(EXECUTIONS_SQL.replace('$1', '?')).all(workflowId));
	} finally {
		db.close();
	}
}

const stat = (xs) =>
	xs.length === 0
		? 'none'
		: `p50 ${pctl(xs, 0.5).toFixed(0)}, p95 ${pctl(xs, 0.95).toFixed(0)}, max ${Math.max(...xs).toFixed(0)}`;

/** "queued … · run … · HTTP side …" for the polls whose execution rows line up with them. */
function phasesCell(phases, roundTrips) {
	if (phases.some((p) => Number.isNaN(p.runMs)))
		return 'execution rows without a stop time (not saved: EXECUTIONS_DATA_SAVE_ON_SUCCESS)';
	if (phases.length !== roundTrips.length)
		return `${phases.length} executions for ${roundTrips.length} polls: not matched`;
	const rest = phases.map((p, i) => roundTrips[i] - p.executionMs);
	return `queued ${stat(phases.map((p) => p.queuedMs))} · run ${stat(phases.map((p) => p.runMs))} · the rest ${stat(rest)}`;
}

/** The poll URLs of every arm. */
function pollUrls(queueBase, instanceBase) {
	return {
		queue: (job, total) => `${queueBase}/webhook/${QUEUE_HOOK}?job=${job}&total=${total}`,
		json: (job, total) =>
			`${instanceBase}/webhook/${STATUS_PAGE_HOOKS.json}?job=${job}&total=${total}`,
		page: (job) => `${instanceBase}/webhook/${STATUS_PAGE_HOOKS.page}?job=${job}`,
		floor: () => `${instanceBase}/webhook/${STATUS_PAGE_HOOKS.floor}`,
	};
}

const json = (body) => JSON.parse(body);
const PARSE = { queue: json, json, page: pageNumbers, floor: json };

/** Every arm polled with nothing running (the first poll of each warms its workflow up). */
async function idleRoundTrips(url) {
	const idle = { queue: [], json: [], page: [], floor: [] };
	for (let i = 0; i <= IDLE_POLLS; i++) {
		for (const arm of Object.keys(idle)) {
			const r = await timedGet(url[arm](`${JOB}-idle`, 1), PARSE[arm]);
			if (i > 0) idle[arm].push(r.ms);
		}
		await sleep(500);
	}
	return idle;
}

/**
 * The queue-main arm on its own clock: one of its polls may wait for a worker slot for seconds,
 * which must not delay the status instance's polls. `stop()` ends it after the poll under way.
 */
function pollQueueMain(url) {
	const polls = [];
	let over = false;
	const loop = (async () => {
		while (!over) {
			const tick = Date.now();
			const r = await timedGet(url.queue(JOB, ITEMS), json);
			polls.push({ ms: r.ms, done: r.value?.done });
			await sleep(Math.max(0, POLL_MS - (Date.now() - tick)));
		}
	})();
	return {
		polls,
		stop: async () => {
			over = true;
			await loop;
		},
	};
}

/** A status reading's `done` never below an earlier one's, per arm. */
function progressCheck() {
	const back = { json: 0, page: 0, direct: 0 };
	const seen = { json: -1, page: -1, direct: -1 };
	return {
		back,
		seen,
		add(arm, done) {
			if (done === undefined) return;
			if (done < seen[arm]) back[arm]++;
			seen[arm] = Math.max(seen[arm], done);
		},
	};
}

/** The ledger read as the bench process sees it, whole and in its two halves. */
async function timedRead(store) {
	const t0 = performance.now();
	const direct = await readJobStatus(store, JOB, { now: Date.now(), expectedTotal: ITEMS });
	const t1 = performance.now();
	await store.stats(JOB);
	const t2 = performance.now();
	await heartbeatStoreFor(store).read(JOB);
	const t3 = performance.now();
	return { direct, directMs: t1 - t0, statsMs: t2 - t1, beatsMs: t3 - t2 };
}

/**
 * Every 5 s until the JSON status says finished and the job's report has arrived: the status
 * instance's JSON, page and floor, then the ledger read. Resolves with every poll, the load
 * seen, the progress check and the last JSON status.
 */
async function followOnStatusInstance({ url, store, reports, queuePolls }) {
	const polls = [];
	const loads = [];
	const progress = progressCheck();
	const end = await followJob({
		intervalMs: POLL_MS,
		stallMs: 60_000,
		tick: async () => {
			const j = await timedGet(url.json(JOB, ITEMS), json);
			const p = await timedGet(url.page(JOB), pageNumbers);
			const f = await timedGet(url.floor(), json);
			const read = await timedRead(store);
			progress.add('json', j.value?.done);
			progress.add('page', p.value?.done);
			progress.add('direct', read.direct.done);
			const load = os.loadavg()[0];
			loads.push(load);
			polls.push({ json: j, page: p, floor: f, ...read });
			if (polls.length % 6 === 1)
				log(
					`${read.direct.state} ${read.direct.done}/${read.direct.total} · status instance JSON ${j.ms.toFixed(0)} ms, page ${p.ms.toFixed(0)} ms, ledger ${read.directMs.toFixed(0)} ms · queue main last ${queuePolls.at(-1)?.ms.toFixed(0) ?? '–'} ms · load ${load.toFixed(2)}`,
				);
			const last = j.value;
			return {
				progress: read.direct.done,
				finished: last?.state === 'finished' && last.done >= ITEMS && reports.length > 0,
				last,
			};
		},
	});
	if (!end.finished)
		log(`no progress for 60 s at ${progress.seen.direct}/${ITEMS}: the job did not finish`);
	return { polls, loads, back: progress.back, last: end.last };
}

const row = (a, b, c = '') => console.log(`| ${a} | ${b} | ${c} |`);
const over200 = (xs) => `${xs.filter((x) => x > 200).length} over 200 ms`;

/** The measured rows: each arm's round trips, the read, progress and the final numbers. */
function printPolls({ run, idle, queuePolls, report }) {
	const { polls, back, last } = run;
	const ms = (arm) => polls.map((p) => p[arm].ms);
	const answered = (arm) =>
		`${polls.length} polls, ${polls.filter((p) => p[arm].value === undefined).length} unanswered`;
	const qms = queuePolls.map((p) => p.ms);
	const same =
		report &&
		last &&
		last.succeeded === report.outcomes?.success &&
		last.failed === report.outcomes?.failed &&
		Math.abs(last.costUsd - report.costUsd) < 1e-9;
	console.log('| check (ms) | measured | target |');
	console.log('|---|---|---|');
	for (const [arm, label] of [
		['json', 'status instance, JSON poll during the job'],
		['page', 'status instance, example 08 page during the job'],
	])
		row(label, `${answered(arm)}; ${stat(ms(arm))}; ${over200(ms(arm))}`, 'every poll ≤ 200 ms');
	row(
		"status instance, the same webhook without Job Status (n8n's floor)",
		`${stat(ms('floor'))}; ${over200(ms('floor'))}`,
	);
	row(
		'the same read straight from the ledger (core/status/read.ts)',
		stat(polls.map((p) => p.directMs)),
	);
	row(
		'… its halves: record totals (store.stats) / heartbeats',
		`${stat(polls.map((p) => p.statsMs))} / ${stat(polls.map((p) => p.beatsMs))}`,
	);
	row(
		'status instance idle (JSON / page / floor)',
		`${stat(idle.json)} / ${stat(idle.page)} / ${stat(idle.floor)}`,
	);
	row(
		'queue main, poll during the job (the comparison)',
		`${queuePolls.length} polls, ${queuePolls.filter((p) => p.done === undefined).length} unanswered; ${stat(qms)}; ${over200(qms)}`,
	);
	row("queue main idle (n8n's queue-mode webhook round trip)", stat(idle.queue));
	row(
		'progress going back between polls (JSON / page / ledger)',
		`${back.json} / ${back.page} / ${back.direct}`,
		'0',
	);
	row(
		"last status-instance poll vs the job's Batch Report",
		`${last?.succeeded} ok / ${last?.failed} failed / $${last?.costUsd?.toFixed?.(4)} vs ${report?.outcomes?.success} / ${report?.outcomes?.failed} / $${report?.costUsd?.toFixed?.(4)}: ${same ? 'equal' : 'DIFFERENT'}`,
		'equal',
	);
}

/** Where each arm's time went, from each instance's execution rows (after the idle polls). */
async function printPhases({ run, idle, queuePolls, instance, pg, ids }) {
	const n = IDLE_POLLS + 1;
	const ms = (arm) => run.polls.map((p) => p[arm].ms);
	for (const arm of ['json', 'page', 'floor'])
		row(
			`status instance ${arm} during the job, where the time goes`,
			phasesCell(instancePhases(instance.database, ids[arm]).slice(n), ms(arm)),
		);
	const q = await queuePhases(pg);
	row(
		'queue main during the job, where the time goes',
		phasesCell(
			q.slice(n),
			queuePolls.map((p) => p.ms),
		),
	);
	row('queue main idle, where the time goes', phasesCell(q.slice(1, n), idle.queue));
}

async function main() {
	assertN8nInstalled();
	const [page, pageJson, floor] = statusPageWorkflows();
	const bench = await startBenchTopology({
		label: 'status',
		workers: WORKERS,
		concurrency: WORKER_CONCURRENCY,
		sandboxArgs: ['--seed', '5', '--latency', '50-300'],
		workflows: ({ baseUrl, reportUrl }) => [
			bigJobWorkflow({ baseUrl, reportUrl, rpm: RPM, chunkSize: CHUNK }),
			queueStatusWorkflow(),
		],
		hooks: [
			{ path: BIG_JOB_HOOKS.start },
			{ path: BIG_JOB_HOOKS.chunk },
			{ path: QUEUE_HOOK, method: 'GET' },
		],
		log,
	});
	let instance;
	try {
		log('starting the status instance (regular mode, example 08)');
		instance = await startStatusInstance({
			tarball: bench.tarball,
			credentials: statusPageCredentials(bench.pg),
			workflows: [page, pageJson, floor],
			hooks: Object.values(STATUS_PAGE_HOOKS).map((p) => ({ path: p })),
			nice: INSTANCE_NICE,
			env: INSTANCE_ENV,
		});
		const store = openStore({ kind: 'postgres', ...bench.pg });
		await store.init();
		const url = pollUrls(bench.baseUrl, instance.baseUrl);
		const idle = await idleRoundTrips(url);
		const loadIdle = loadAverage();
		log(
			`idle: queue main ${stat(idle.queue)} ms; status instance JSON ${stat(idle.json)} ms, page ${stat(idle.page)} ms, n8n floor ${stat(idle.floor)} ms; load ${loadIdle}`,
		);

		const started = Date.now();
		const res = await fetch(`${bench.baseUrl}/webhook/${BIG_JOB_HOOKS.start}`, {
			method: 'POST',
			headers: { 'content-type': 'application/json' },
			body: JSON.stringify({ job: JOB, n: ITEMS }),
		});
		log(`job of ${ITEMS} records in chunks of ${CHUNK} started: HTTP ${res.status}`);
		const queue = pollQueueMain(url);
		const run = await followOnStatusInstance({
			url,
			store,
			reports: bench.reports,
			queuePolls: queue.polls,
		});
		await queue.stop();

		const seconds = (Date.now() - started) / 1000;
		const loads = run.loads;
		console.log(
			`\nJob Status polled every 5 s during a ${ITEMS}-record job (${Math.ceil(ITEMS / CHUNK)} chunks of ${CHUNK}, ${WORKERS} workers × --concurrency=${WORKER_CONCURRENCY}, ${RPM} RPM), ${seconds.toFixed(0)} s; status instance nice ${INSTANCE_NICE ?? 0}, env ${JSON.stringify(INSTANCE_ENV)}; load average (1 / 5 / 15 min) idle ${loadIdle}, during the job 1-min p50 ${pctl(loads, 0.5).toFixed(2)} max ${Math.max(...loads).toFixed(2)}, at the end ${loadAverage()}\n`,
		);
		const report = bench.reports.find((r) => r.items !== undefined) ?? bench.reports[0];
		const measured = { run, idle, queuePolls: queue.polls, report };
		printPolls(measured);
		await printPhases({
			...measured,
			instance,
			pg: bench.pg,
			ids: { json: pageJson.id, page: page.id, floor: floor.id },
		});
	} finally {
		await closeAllStores();
		await instance?.stop();
		await bench.stop();
	}
}

main().catch((error) => {
	console.error(`[bench:job-status] failed: ${error.stack ?? error.message}`);
	process.exit(1);
});
