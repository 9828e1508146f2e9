// `npm run bench:queue [-- --quick] [--only a,b,c]`: LLM Batch Call in real n8n queue mode (Redis +
// PostgreSQL + main + 3 workers, the packed package community-installed), measured at the sandbox.
//
//  (a) 3 executions × 1,000 items at once on one credential, limits shared through Redis
//  (b) the same while the Redis holding the limits is stopped for 10 s mid-run (fallback at 33 %)
//  (c) a job bigger than one execution: 100,000 records in chunks of 1,000 (example 05's pattern:
//      the starting execution emits page descriptors only, one webhook execution per chunk reads
//      its own page, chunk marks + Batch Report from the job stats) against one 20,000-item
//      execution at the same limit; peak RSS of every n8n process.
//
// `--quick`: fewer items everywhere (wiring check); `--big=N` / `--single=N`: the sizes of (c).
//
// Prints a Markdown table; asserts nothing (the e2e test asserts correctness).
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';

import pg from 'pg';

import { assertN8nInstalled } from '../scripts/n8n/lib.mjs';
import { followJob, startBenchTopology } from '../scripts/n8n/queue-bench.mjs';
import { startRedisServer } from '../scripts/n8n/queue.mjs';
import {
	BIG_JOB_HOOKS,
	bigJobWorkflow,
	executionsByWorker,
	postBatch,
	queueWorkflow,
} from '../scripts/n8n/queue-workflow.mjs';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const only = (args.find((a) => a.startsWith('--only='))?.split('=')[1] ?? 'a,b,c').split(',');
const log = (line) => console.log(`[bench:queue] ${line}`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const int = (n) => Math.round(n).toLocaleString('en-US');
const pct = (x) => `${(x * 100).toFixed(2)} %`;

const A_RPM = 6000;
const A_ITEMS = quick ? 300 : 1000;
const C_RPM = Number(process.env.BENCH_QUEUE_BIG_RPM ?? 18_000);
const sizeArg = (name, fallback) => {
	const v = args.find((a) => a.startsWith(`--${name}=`))?.split('=')[1];
	return v === undefined ? fallback : Number(v);
};
const C_SINGLE = sizeArg('single', quick ? 2000 : 20_000);
const C_BIG = sizeArg('big', quick ? 10_000 : 100_000);
const C_CHUNK = 1000;

/** Peak RSS (VmHWM) of a process, in MB; Linux only. */
function peakRssMb(pid) {
	try {
		const status = readFileSync(`/proc/${pid}/status`, 'utf8');
		const m = status.match(/VmHWM:\s+(\d+) kB/);
		return m ? Number(m[1]) / 1024 : NaN;
	} catch {
		return NaN;
	}
}

/** The process and everything it started (n8n's task runners), by parent PID from /proc. */
function processTree(pid) {
	const parent = new Map();
	for (const d of readdirSync('/proc')) {
		if (!/^\d+$/.test(d)) continue;
		try {
			const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
			parent.set(Number(d), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
		} catch {
			// gone meanwhile
		}
	}
	const out = [pid];
	for (let i = 0; i < out.length; i++)
		for (const [child, ppid] of parent) if (ppid === out[i]) out.push(child);
	return out;
}

/** Starts a new peak (VmHWM) for every process of the tree: Linux's clear_refs 5. */
function resetPeaks(pids) {
	for (const pid of pids.flatMap(processTree)) {
		try {
			writeFileSync(`/proc/${pid}/clear_refs`, '5');
		} catch {
			// not ours or gone
		}
	}
}

/** "main 700 MB, worker-1 650 MB, …; task runners ≤ 120 MB". */
function peaks(named) {
	let runners = 0;
	const parts = named.map(([name, pid]) => {
		for (const child of processTree(pid).slice(1))
			runners = Math.max(runners, peakRssMb(child) || 0);
		return `${name} ${int(peakRssMb(pid))} MB`;
	});
	return { parts, runners };
}

async function ledger(pgInfo, sql, params) {
	const c = new pg.Client({ ...pgInfo, database: pgInfo.database });
	await c.connect();
	try {
		return (await c.query(sql, params)).rows;
	} finally {
		await c.end();
	}
}

async function main() {
	assertN8nInstalled();
	const rows = [];
	const bench = await startBenchTopology({
		label: 'queue',
		workers: 3,
		// A few executions per worker: 30 chunk executions at once on a 2-core machine starve
		// the ledger's connections; the shared limit is the bottleneck anyway.
		concurrency: 3,
		sandboxArgs: ['--seed', '5', '--latency', '50-300', '--rpm', String(A_RPM)],
		workflows: ({ baseUrl, reportUrl }) => [
			queueWorkflow({ rpm: A_RPM, tpm: 100_000_000, concurrency: 16 }),
			queueWorkflow({
				rpm: C_RPM,
				tpm: 100_000_000,
				concurrency: 32,
				id: 'llmBatchQueueSingle',
				webhookPath: 'llm-batch-single',
			}),
			bigJobWorkflow({ baseUrl, reportUrl, rpm: C_RPM, chunkSize: C_CHUNK }),
		],
		hooks: ['llm-batch-queue', 'llm-batch-single', BIG_JOB_HOOKS.start, BIG_JOB_HOOKS.chunk].map(
			(p) => ({ path: p }),
		),
		log,
	});
	const { topo, sandbox, limitsRedis, reports, pg: pgInfo } = bench;
	const base = bench.baseUrl;
	// The Redis holding the limits; (b) replaces it with a new one on the same port.
	let limitsRedisProc = limitsRedis;
	try {
		const runThree = async (prefix, during) => {
			await sandbox.reset();
			const jobs = ['a', 'b', 'c'].map((s) => `${prefix}-${s}`);
			const all = Promise.all(jobs.map((j) => postBatch(base, j, A_ITEMS)));
			if (during) await during();
			const results = await all;
			const stats = await sandbox.stats();
			const windowed = await (await fetch(`${sandbox.url}/sandbox/stats?windowMs=10000`)).json();
			const seconds = (stats.lastAnswerAt - stats.firstArrivalAt) / 1000;
			const lost = results.reduce((n, r) => n + (A_ITEMS - (r.report?.outcomes?.success ?? 0)), 0);
			const done = await ledger(
				pgInfo,
				"SELECT count(*)::int AS n FROM llm_batch_ledger_records WHERE job = ANY($1) AND status = 'succeeded'",
				[jobs],
			);
			return {
				share429: stats.rateLimited / Math.max(1, stats.requests),
				rateLimited: stats.rateLimited,
				requests: stats.requests,
				utilisation: ((stats.accepted / seconds) * 60) / A_RPM,
				seconds,
				lost,
				paidTwice: stats.duplicateSuccesses,
				ledgerSucceeded: done[0].n,
				peak10s: windowed.maxRequestsPerWindow / (A_RPM / 6),
				byWorker: executionsByWorker(topo.workers),
			};
		};

		if (only.includes('a')) {
			log(`(a) 3 executions × ${A_ITEMS} items at ${A_RPM} RPM`);
			const a = await runThree('bench-a');
			log(JSON.stringify(a));
			rows.push([
				'(a) 3 workers, 3 executions × ' + int(A_ITEMS) + ' items, one credential',
				`429: ${pct(a.share429)} (${a.rateLimited} of ${int(a.requests)}); utilisation ${a.utilisation.toFixed(3)} of ${int(A_RPM)} RPM over ${a.seconds.toFixed(0)} s; lost ${a.lost}; paid twice ${a.paidTwice}; ledger ${int(a.ledgerSucceeded)} succeeded`,
				'≤ 1 % 429; ≥ 0.90; 0; 0',
			]);
		}
		if (only.includes('b')) {
			log('(b) the same, with the limits Redis stopped for 10 s mid-run');
			let fallbackLines = 0;
			const b = await runThree('bench-b', async () => {
				for (;;) {
					const s = await sandbox.stats();
					if (s.paidSuccesses >= A_ITEMS) break;
					await sleep(100);
				}
				await limitsRedisProc.process.kill('SIGKILL');
				await sleep(10_000);
				limitsRedisProc = await startRedisServer({ port: limitsRedis.port });
			});
			for (const w of topo.workers)
				fallbackLines += (w.output().match(/Redis \(shared limits\) is unreachable/g) ?? []).length;
			const backLines = topo.workers.reduce(
				(n, w) => n + (w.output().match(/Redis is back after/g) ?? []).length,
				0,
			);
			log(JSON.stringify({ ...b, fallbackLines, backLines }));
			rows.push([
				'(b) limits Redis stopped 10 s mid-run (fallback 33 % per process, 3 workers)',
				`429: ${pct(b.share429)}; busiest 10 s window at ${b.peak10s.toFixed(2)}× the limit; ${fallbackLines} fallback warnings, ${backLines} recoveries logged; lost ${b.lost}; paid twice ${b.paidTwice}`,
				'fallback reported; ≤ limit + the stated share',
			]);
		}
		if (only.includes('c')) {
			log(
				`(c) big job: ${int(C_BIG)} records in chunks of ${C_CHUNK} vs one ${int(C_SINGLE)}-item execution at ${int(C_RPM)} RPM`,
			);
			await sandbox.configure({ rpm: C_RPM, latencyMs: { min: 20, max: 60 } });
			await sandbox.reset();
			const t0 = Date.now();
			const single = await postBatch(
				base,
				'bench-c-single',
				C_SINGLE,
				1_800_000,
				'llm-batch-single',
			);
			const singleSec = (Date.now() - t0) / 1000;
			const singleRate = (single.report?.outcomes?.success ?? 0) / singleSec;
			log(
				`single execution: ${C_SINGLE} items in ${singleSec.toFixed(1)} s (${singleRate.toFixed(1)}/s), status ${single.status}`,
			);

			const processes = [
				['main', topo.main.process?.pid],
				...topo.workers.map((w) => [w.name, w.process.pid]),
			];
			const singlePeaks = peaks(processes);
			log(`peak RSS through the single execution: ${singlePeaks.parts.join(', ')}`);
			// The big job's own peaks, not the single execution's before it.
			resetPeaks(processes.map(([, pid]) => pid));
			await sandbox.reset();
			const t1 = Date.now();
			const res = await fetch(`${base}/webhook/${BIG_JOB_HOOKS.start}`, {
				method: 'POST',
				headers: { 'content-type': 'application/json' },
				body: JSON.stringify({ job: 'bench-c-big', n: C_BIG }),
			});
			log(`big job started: HTTP ${res.status}`);
			let counts;
			let reruns = 0;
			let finishedAt = 0;
			await followJob({
				intervalMs: 1000,
				stallMs: 60_000,
				timeoutMs: 3_600_000,
				tick: async () => {
					const rowsNow = await ledger(
						pgInfo,
						'SELECT status, count(*)::int AS n FROM llm_batch_ledger_records WHERE job = $1 GROUP BY status',
						['bench-c-big'],
					);
					counts = Object.fromEntries(rowsNow.map((r) => [r.status, r.n]));
					const finished = (counts.succeeded ?? 0) + (counts.failed ?? 0);
					if (finished >= C_BIG && !finishedAt) finishedAt = Date.now();
					const [{ busy }] = await ledger(
						pgInfo,
						"SELECT count(*)::int AS busy FROM execution_entity WHERE status IN ('new', 'running')",
						[],
					);
					return {
						progress: finished,
						busy: busy > 0, // still registering or dispatching
						finished: finished >= C_BIG && (reports.length > 0 || Date.now() - finishedAt > 30_000),
					};
				},
				stalled: async () => {
					// A chunk execution failed (its records stay open, its chunk unmarked): start the
					// job again, as a user would — LLM Batch Call skips the records already done.
					reruns++;
					log(`no progress for 60 s at ${JSON.stringify(counts)}: starting the job again`);
					await fetch(`${base}/webhook/${BIG_JOB_HOOKS.start}`, {
						method: 'POST',
						headers: { 'content-type': 'application/json' },
						body: JSON.stringify({ job: 'bench-c-big', n: C_BIG }),
					});
					return 'again';
				},
			});
			const bigSec = ((finishedAt || Date.now()) - t1) / 1000;
			const bigRate = C_BIG / bigSec;
			await sleep(3000); // a second report would arrive now
			const stats = await sandbox.stats();
			const bigPeaks = peaks(processes);
			const rss = [...bigPeaks.parts, `their task runners ≤ ${int(bigPeaks.runners)} MB`];
			const report = reports[0] ?? {};
			log(
				JSON.stringify({
					counts,
					reports: reports.length,
					report: { items: report.items, outcomes: report.outcomes },
					paidTwice: stats.duplicateSuccesses,
					rss,
				}),
			);
			rows.push([
				`(c) ${int(C_BIG)} records as one job (chunks of ${int(C_CHUNK)}, 3 workers) vs one ${int(C_SINGLE)}-item execution, ${int(C_RPM)} RPM`,
				`job report: ${reports.length} report(s) (job started ${reruns + 1}×), ${int(report.items ?? 0)} records, ${int(report.outcomes?.success ?? 0)} succeeded, ${int(report.outcomes?.failed ?? 0)} failed; paid twice ${stats.duplicateSuccesses}; ${bigRate.toFixed(1)} records/s vs ${singleRate.toFixed(1)}/s single = ${(bigRate / singleRate).toFixed(2)}×; peak RSS during the job ${rss.join(', ')} (through the single execution: ${singlePeaks.parts.join(', ')})`,
				'once each; ≤ 1.5 GB each; ≥ 0.8×',
			]);
		}
	} finally {
		if (limitsRedisProc !== limitsRedis) await limitsRedisProc.stop();
		await bench.stop();
	}
	console.log('\n| scenario | measured | target |\n|---|---|---|');
	for (const r of rows) console.log(`| ${r.join(' | ')} |`);
}

main().catch((error) => {
	console.error(`[bench:queue] failed: ${error.stack ?? error.message}`);
	process.exit(1);
});
