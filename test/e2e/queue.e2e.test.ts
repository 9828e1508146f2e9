// n8n queue mode for real: Redis + a throw-away PostgreSQL + `n8n start` (EXECUTIONS_MODE=queue)
// + three `n8n worker` processes sharing the user folder with the packed package installed.
// Three webhook calls of 1,000 records each run at once on one credential: LLM Batch Call
// shares its limit through Redis and its ledger on PostgreSQL. Example 05: a job of 3,000 records
// whose start emits page descriptors only, one chunk execution per page, one job report. Last
// (it leaves a worker dead): a worker SIGKILLed mid-run and the crashed execution run again.
// Only correctness is asserted here; the rates (429 share, utilisation) are printed, and
// measured by bench/queue-mode.mjs.
import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import path from 'node:path';

import { Client } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { freshUserFolder, n8n, printTimings, timed, type Sandbox } from './harness';
import {
	BIG_JOB_HOOKS,
	bigJobWorkflow,
	executionsByWorker,
	postBatch,
	queue,
	queueCredentials,
	queueWorkflow,
	WEBHOOK_PATH,
	WORKFLOW_ID,
	type Topology,
} from './queue';

const ITEMS = 1000;
// A limit this machine serves in a few seconds per 1,000 items; the node is told the same.
const RPM = 6000;
const CONCURRENCY = 16;
const BIG_RECORDS = 3000;
const BIG_CHUNK = 1000;

describe('queue mode: 3 workers, one credential, limits shared through Redis', () => {
	let userFolder: string;
	let cleanup = () => {};
	let sandbox: Sandbox | undefined;
	let topo: Topology | undefined;
	let receiver: Server | undefined;
	/** Job reports example 05 POSTs (its Batch Report → HTTP Request added for the test). */
	const reports: Array<Record<string, unknown>> = [];

	async function ledgerCounts(jobs: string[]): Promise<Record<string, Record<string, number>>> {
		const c = new Client({
			host: topo!.pg.host,
			port: topo!.pg.port,
			user: topo!.pg.user,
			password: topo!.pg.password,
			database: topo!.pg.database,
		});
		await c.connect();
		try {
			const { rows } = await c.query<{ job: string; status: string; n: string }>(
				'SELECT job, status, count(*) AS n FROM llm_batch_ledger_records WHERE job = ANY($1) GROUP BY job, status',
				[jobs],
			);
			const out: Record<string, Record<string, number>> = {};
			for (const r of rows) (out[r.job] ??= {})[r.status] = Number(r.n);
			return out;
		} finally {
			await c.end();
		}
	}

	/** n8n's executions (status, workflow, error) for a failure message. */
	async function executions(): Promise<unknown[]> {
		const c = new Client({
			host: topo!.pg.host,
			port: topo!.pg.port,
			user: topo!.pg.user,
			password: topo!.pg.password,
			database: topo!.pg.database,
		});
		await c.connect();
		try {
			const { rows } = await c.query(
				`SELECT e.id, e.status, e."workflowId", substring(d.data from greatest(1, position('"message"' in d.data) - 100) for 600) AS data FROM execution_entity e LEFT JOIN execution_data d ON d."executionId" = e.id ORDER BY e.id`,
			);
			return rows;
		} finally {
			await c.end();
		}
	}

	beforeAll(async () => {
		({ userFolder, cleanup } = await timed('install package into fresh user folder', () =>
			freshUserFolder('queue'),
		));
		sandbox = await n8n.startSandbox([
			'--port',
			'0',
			'--seed',
			'7',
			'--latency',
			'50-300',
			'--rpm',
			String(RPM),
		]);
		const file = path.join(userFolder, 'queue-workflow.json');
		writeFileSync(
			file,
			JSON.stringify(queueWorkflow({ rpm: RPM, tpm: 100_000_000, concurrency: CONCURRENCY })),
		);
		receiver = createServer((req, res) => {
			let body = '';
			req.on('data', (c: Buffer) => (body += c.toString()));
			req.on('end', () => {
				reports.push(JSON.parse(body) as Record<string, unknown>);
				res.end('{}');
			});
		});
		await new Promise<void>((r) => receiver!.listen(0, '127.0.0.1', r));
		const { port: reportPort } = receiver.address() as { port: number };
		const port = await n8n.freePort();
		const big = bigJobWorkflow({
			baseUrl: `http://localhost:${port}`,
			reportUrl: `http://127.0.0.1:${reportPort}/report`,
			rpm: RPM,
			chunkSize: BIG_CHUNK,
		});
		const bigFile = path.join(userFolder, 'big-job-workflow.json');
		writeFileSync(bigFile, JSON.stringify(big));
		topo = await timed('queue topology: redis, postgres, main, 3 workers', () =>
			queue.startQueueTopology(userFolder, {
				workers: 3,
				concurrency: 10,
				port,
				prepare: async (env, { redis, pg }) => {
					await n8n.importCredentials(userFolder, queueCredentials(sandbox!.url, redis, pg), {
						env,
					});
					await n8n.importWorkflow(userFolder, file, { env });
					await n8n.publishWorkflow(userFolder, WORKFLOW_ID, { env });
					await n8n.importWorkflow(userFolder, bigFile, { env });
					await n8n.publishWorkflow(userFolder, big.id, { env });
				},
			}),
		);
		for (const hook of [WEBHOOK_PATH, BIG_JOB_HOOKS.start, BIG_JOB_HOOKS.chunk])
			await n8n.waitForWebhook(topo.main.baseUrl, hook);
	});

	afterAll(async () => {
		await topo?.stop();
		await sandbox?.stop();
		receiver?.close();
		cleanup();
		printTimings('queue.e2e');
	});

	it('3 executions × 1,000 items at once: every item in one output, nothing paid twice, one ledger', async () => {
		await sandbox!.reset();
		const jobs = ['q-a', 'q-b', 'q-c'];
		const results = await timed('3 × 1,000 items through 3 workers', () =>
			Promise.all(jobs.map((job) => postBatch(topo!.main.baseUrl, job, ITEMS))),
		);
		for (const r of results) {
			expect(r.status, r.body.slice(0, 500)).toBe(200);
			expect(r.report!.items).toBe(ITEMS);
			expect(r.report!.outcomes).toMatchObject({ success: ITEMS, failed: 0 });
		}
		const stats = await sandbox!.stats();
		expect(stats.paidSuccesses).toBe(3 * ITEMS);
		expect(stats.duplicateSuccesses).toBe(0);
		expect(await ledgerCounts(jobs)).toEqual({
			'q-a': { succeeded: ITEMS },
			'q-b': { succeeded: ITEMS },
			'q-c': { succeeded: ITEMS },
		});
		const seconds = (stats.lastAnswerAt - stats.firstArrivalAt) / 1000;
		console.log(
			`[queue.e2e] 429: ${stats.rateLimited} of ${stats.requests} requests (${((100 * stats.rateLimited) / stats.requests).toFixed(2)} %); ` +
				`utilisation ${(((stats.accepted / seconds) * 60) / RPM).toFixed(3)} of ${RPM} RPM over ${seconds.toFixed(1)} s; ` +
				`executions by worker: ${JSON.stringify(executionsByWorker(topo!.workers))}`,
		);
	});

	it('example 05, a job bigger than one execution: chunk executions read their own pages, one job report counts each record once', async () => {
		await sandbox!.reset();
		const job = 'big-e2e';
		const res = await fetch(`${topo!.main.baseUrl}/webhook/${BIG_JOB_HOOKS.start}`, {
			method: 'POST',
			headers: { 'content-type': 'application/json' },
			body: JSON.stringify({ job, n: BIG_RECORDS }),
		});
		expect(res.status).toBe(200);
		const deadline = Date.now() + 180_000;
		await timed(`${BIG_RECORDS} records in chunks of ${BIG_CHUNK}`, async () => {
			while (reports.length === 0) {
				if (Date.now() > deadline)
					throw new Error(
						`no job report; ledger ${JSON.stringify(await ledgerCounts([job, `${job}#chunks`]))}; executions ${JSON.stringify(await executions())}; main log: ${topo!.main.output().slice(-3000)}`,
					);
				await new Promise((r) => setTimeout(r, 500));
			}
		});
		await new Promise((r) => setTimeout(r, 3000)); // a second report would arrive by now
		expect(reports).toHaveLength(1);
		expect(reports[0]).toMatchObject({
			job,
			complete: true,
			items: BIG_RECORDS,
			outcomes: { success: BIG_RECORDS, failed: 0 },
		});
		const stats = await sandbox!.stats();
		expect(stats.paidSuccesses).toBe(BIG_RECORDS);
		expect(stats.duplicateSuccesses).toBe(0);
		// every record once in the ledger, every chunk marked once beside it, one report claim
		expect(await ledgerCounts([job, `${job}#chunks`, `${job}#report`])).toEqual({
			[job]: { succeeded: BIG_RECORDS },
			[`${job}#chunks`]: { pending: BIG_RECORDS / BIG_CHUNK },
			[`${job}#report`]: { processing: 1 },
		});
	});

	// The topology keeps n8n's own lock settings (a 60 s lock renewed every 10 s, stalled jobs
	// looked for every 30 s): n8n fails a job at its first stall, so a 15 s lock failed healthy
	// executions whenever a worker was starved of CPU that long (a loaded CI machine: "job stalled
	// more than maxStalledCount", the webhook answering "Error in workflow"). The killed worker's
	// job therefore takes up to 90 s to be failed, and this test has its own timeout.
	it('a worker SIGKILLed mid-run: the crashed execution, run again, pays only for what was in flight', async () => {
		await sandbox!.reset();
		const jobs = ['k-a', 'k-b', 'k-c'];
		const before = executionsByWorker(topo!.workers);
		const pending = jobs.map((job) =>
			postBatch(topo!.main.baseUrl, job, ITEMS, 300_000).catch((e: Error) => ({
				status: 0,
				report: undefined,
				body: e.message,
			})),
		);
		// Half-way through the first third, kill a worker that is running one of these executions.
		const deadline = Date.now() + 120_000;
		let victim: Topology['workers'][number] | undefined;
		for (;;) {
			const now = executionsByWorker(topo!.workers);
			const stats = await sandbox!.stats();
			victim = topo!.workers.find((w) => now[w.name].length > before[w.name].length);
			if (victim && stats.paidSuccesses >= ITEMS / 2) break;
			if (Date.now() > deadline) throw new Error('no worker started an execution in time');
			await new Promise((r) => setTimeout(r, 200));
		}
		const crashedRuns =
			executionsByWorker([victim!])[victim!.name].length - before[victim!.name].length;
		await victim!.kill();
		const results = await timed('3 × 1,000 items with a worker killed', () => Promise.all(pending));
		const failedJobs = jobs.filter((_, i) => results[i].status !== 200);
		// The killed worker ran at least one execution; n8n fails it once the job's lock expires.
		expect(failedJobs.length).toBeGreaterThanOrEqual(1);
		expect(failedJobs.length).toBe(crashedRuns);

		// Run the crashed jobs again, as a user would after the failure alert.
		const rerun = await timed('rerun of the crashed executions', () =>
			Promise.all(failedJobs.map((job) => postBatch(topo!.main.baseUrl, job, ITEMS))),
		);
		for (const r of rerun) {
			expect(r.status, r.body.slice(0, 500)).toBe(200);
			expect(r.report!.items).toBe(ITEMS);
			expect(r.report!.outcomes).toMatchObject({ success: ITEMS, failed: 0 });
		}
		const stats = await sandbox!.stats();
		// Every record paid once, plus at most the requests in flight in each killed execution.
		expect(stats.duplicateSuccesses).toBeLessThanOrEqual(CONCURRENCY * failedJobs.length);
		expect(stats.paidSuccesses - stats.duplicateSuccesses).toBe(3 * ITEMS);
		const ledger = await ledgerCounts(jobs);
		for (const job of jobs) expect(ledger[job]).toEqual({ succeeded: ITEMS });
		console.log(
			`[queue.e2e] kill: ${failedJobs.length} execution(s) crashed on ${victim!.name}; paid twice after the rerun: ${stats.duplicateSuccesses} (in flight at most ${CONCURRENCY} each)`,
		);
	}, 600_000);
});
