/**
 * Heartbeat overhead: LLM Batch Call (a real workflow through n8n-core's WorkflowExecute) with a
 * ledger, its job heartbeat on against the same run with it off, side by side, on SQLite and
 * PostgreSQL, with the product's heartbeat interval (10 s).
 *
 * Two shapes of run. `--latency=0` (the default): the sandbox answers at once, the run is as
 * CPU-bound as it gets and the heartbeat's share is as large as it can be — but the machine's
 * noise then sets the ratio, ±20 % between pairs on a shared 2-core machine, too coarse to
 * resolve 2 %. `--latency=50` (fixed, no spread): every answer takes 50 ms, so throughput is
 * set by the provider and the concurrency, as in production, and a pair's ratio shows what the
 * heartbeat takes from a real run. Runs longer than 10 s beat in between too, not only at the
 * start and the end.
 *
 * "Off" is the same code with the heartbeat's methods made no-ops for the round (the bench
 * patches the prototype): no beat, no row, no latency kept — what remains is constructing it.
 * Rounds alternate (ABBA…) and the ratio is the median of the per-pair ratios, so a machine
 * busy with other work weighs on both alike.
 *
 *   npm run bench:heartbeat -- [--items=5000] [--pairs=3] [--latency=0] [--concurrency=16] [--sqlite-only|--postgres-only]
 *   npm run bench:heartbeat -- --items=4000 --pairs=6 --latency=50 --concurrency=16   (provider-bound)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import type { ICredentialDataDecryptedObject } from 'n8n-workflow';

import { resetSharedFlow } from '../core/call/limiter/in-process';
import { closeAllStores, openStore, type LedgerStore } from '../core/ledger';
import { heartbeatStoreFor } from '../core/ledger/heartbeat';
import { Heartbeat } from '../core/status/heartbeat';
import { startSandbox } from '../sandbox/server';
import { runWorkflow } from '../scripts/lib/harness';
import { API_KEY, gc, llmWorkflow, median, nodeTypes, tickets } from './common';

const arg = (name: string, fallback: number) =>
	Number(process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? fallback);
const ITEMS = arg('items', 5000);
const PAIRS = arg('pairs', 3);
const LATENCY_MS = arg('latency', 0);
const CONCURRENCY = arg('concurrency', 16);
/** The 2 % the heartbeat may take from throughput at most. */
const TARGET_RATIO = 0.98;
const SQLITE_ONLY = process.argv.includes('--sqlite-only');
const POSTGRES_ONLY = process.argv.includes('--postgres-only');

interface Pg {
	host: string;
	port: number;
	user: string;
	password: string;
	database: string;
}

/** The heartbeat's own work switched off (on again by `restore`). */
function heartbeatOff(): () => void {
	const p = Heartbeat.prototype;
	const saved = { run: p.run, finish: p.finish, latency: p.latency };
	p.run = async () => undefined;
	p.finish = async () => undefined;
	p.latency = () => undefined;
	return () => Object.assign(p, saved);
}

async function round(
	sandboxUrl: string,
	ledger: {
		params: Record<string, unknown>;
		credentials: Record<string, ICredentialDataDecryptedObject>;
	},
	job: string,
	heartbeat: boolean,
): Promise<number> {
	resetSharedFlow();
	const wf = llmWorkflow({
		concurrency: CONCURRENCY,
		requestsPerMinute: 1_000_000_000,
		tokensPerMinute: 1_000_000_000_000,
		ledgerJob: job,
		...ledger.params,
		options: { maxTokens: 16, progressIntervalSeconds: 0 },
	});
	const call = wf.nodes.find((n) => n.name === 'LLM Batch Call')!;
	if (ledger.params.ledgerStore === 'postgres')
		call.credentials = { ...call.credentials, llmBatchPostgresApi: { id: '2', name: 'pg' } };
	const restore = heartbeat ? () => undefined : heartbeatOff();
	gc();
	const started = performance.now();
	try {
		const r = await runWorkflow(wf, {
			credentials: {
				llmBatchOpenAiApi: { apiKey: API_KEY, baseUrl: `${sandboxUrl}/v1` },
				...ledger.credentials,
			},
			input: tickets(ITEMS),
			nodeTypes: nodeTypes(),
			logger: () => undefined,
		});
		const ok = r.items('LLM Batch Call', 0).length;
		if (ok !== ITEMS) throw new Error(`${job}: ${ok} of ${ITEMS} items succeeded`);
	} finally {
		restore();
	}
	return (ITEMS / (performance.now() - started)) * 1000;
}

async function dialect(
	name: 'sqlite' | 'postgres',
	sandboxUrl: string,
	ledger: Parameters<typeof round>[1],
	store: LedgerStore,
) {
	const on: number[] = [];
	const off: number[] = [];
	const ratios: number[] = [];
	let beats = 0;
	// Time the run spends waiting on its beats' writes (the node opens this same store).
	const beatStore = heartbeatStoreFor(store);
	const write = beatStore.beat.bind(beatStore);
	let writeMs = 0;
	beatStore.beat = async (row) => {
		const t = performance.now();
		try {
			await write(row);
		} finally {
			writeMs += performance.now() - t;
		}
	};
	// Warm-up of each, not counted.
	await round(sandboxUrl, ledger, `${name}-warm-on`, true);
	await round(sandboxUrl, ledger, `${name}-warm-off`, false);
	for (let pair = 0; pair < PAIRS; pair++) {
		const first = pair % 2 === 0;
		const a = await round(sandboxUrl, ledger, `${name}-${pair}-a`, first);
		const b = await round(sandboxUrl, ledger, `${name}-${pair}-b`, !first);
		const [withBeat, without] = first ? [a, b] : [b, a];
		on.push(withBeat);
		off.push(without);
		ratios.push(withBeat / without);
		const { samples } = await heartbeatStoreFor(store).read(`${name}-${pair}-${first ? 'a' : 'b'}`);
		beats += samples.length;
	}
	return {
		dialect: name,
		withHeartbeat: median(on),
		withoutHeartbeat: median(off),
		ratio: median(ratios),
		ratioRange: [Math.min(...ratios), Math.max(...ratios)] as const,
		ratios,
		beatsPerRun: beats / PAIRS,
		writeMsPerRun: writeMs / (PAIRS + 1),
	};
}

async function main() {
	const sandbox = await startSandbox({
		seed: 1,
		latencyMs: { min: LATENCY_MS, max: LATENCY_MS },
	});
	const dir = mkdtempSync(join(tmpdir(), 'bench-heartbeat-'));
	const rows = [];
	let pg: (Pg & { dir: string }) | undefined;
	try {
		const path = join(dir, 'ledger.sqlite');
		const sqlite = openStore({ kind: 'sqlite', path });
		await sqlite.init();
		if (!POSTGRES_ONLY)
			rows.push(
				await dialect(
					'sqlite',
					sandbox.url,
					{ params: { ledgerStore: 'sqlite', ledgerSqlitePath: path }, credentials: {} },
					sqlite,
				),
			);
		if (!SQLITE_ONLY) {
			// From the repository root (npm run): the .mjs is not part of the build output.
			const cluster = (await import(join(process.cwd(), 'scripts/n8n/postgres.mjs'))) as {
				startPostgres(): Promise<Pg & { dir: string }>;
				stopPostgres(pg: Pg): void;
			};
			pg = await cluster.startPostgres();
			const credential = {
				host: pg.host,
				port: pg.port,
				database: pg.database,
				user: pg.user,
				password: pg.password,
				ssl: false,
			};
			const store = openStore({ kind: 'postgres', ...credential, ssl: false });
			await store.init();
			rows.push(
				await dialect(
					'postgres',
					sandbox.url,
					{ params: { ledgerStore: 'postgres' }, credentials: { llmBatchPostgresApi: credential } },
					store,
				),
			);
			await closeAllStores();
			cluster.stopPostgres(pg);
		}
	} finally {
		await closeAllStores();
		await sandbox.close();
		rmSync(dir, { recursive: true, force: true });
	}
	const shape =
		LATENCY_MS > 0
			? `sandbox latency ${LATENCY_MS} ms fixed (provider-bound: at most ${Math.round((CONCURRENCY * 1000) / LATENCY_MS)} items/s)`
			: 'zero-latency sandbox (CPU-bound)';
	console.log(
		`Heartbeat overhead: ${ITEMS} items per run, ${PAIRS} alternating pairs, ${shape}, concurrency ${CONCURRENCY}, heartbeat every 10 s`,
	);
	console.log(
		'| ledger | with heartbeat (items/s) | without (items/s) | with ÷ without (median of pairs) | mean ± 95 % CI | range over pairs | pairs | beats per run | beat writes per run (ms) | verdict (≥ 0.98) |',
	);
	console.log('|---|---:|---:|---:|---|---|---|---:|---:|---|');
	for (const r of rows)
		console.log(
			`| ${r.dialect} | ${r.withHeartbeat.toFixed(0)} | ${r.withoutHeartbeat.toFixed(0)} | ${r.ratio.toFixed(3)} | ${meanCi(r.ratios)} | ${r.ratioRange.map((x) => x.toFixed(3)).join('–')} | ${r.ratios.map((x) => x.toFixed(3)).join(' ')} | ${r.beatsPerRun.toFixed(1)} | ${r.writeMsPerRun.toFixed(1)} | ${verdict(r.ratio, r.ratioRange)} |`,
		);
}

/** Mean ± the 95 % confidence half-width of the pairs' ratios (Student's t). */
function meanCi(xs: number[]): string {
	const n = xs.length;
	const mean = xs.reduce((a, b) => a + b, 0) / n;
	if (n < 2) return mean.toFixed(3);
	const sd = Math.sqrt(xs.reduce((a, x) => a + (x - mean) ** 2, 0) / (n - 1));
	// Two-sided 95 % t quantiles for 1..10 degrees of freedom; 2.0 beyond.
	const t = [12.71, 4.3, 3.18, 2.78, 2.57, 2.45, 2.36, 2.31, 2.26, 2.23][n - 2] ?? 2.0;
	return `${mean.toFixed(3)} ± ${((t * sd) / Math.sqrt(n)).toFixed(3)}`;
}

/** Within 2 % when the median pair is; "inconclusive" when the pairs straddle the line by more than the margin. */
function verdict(ratio: number, [min, max]: readonly [number, number]): string {
	const spread = (max - min) / 2;
	if (ratio >= TARGET_RATIO && min >= TARGET_RATIO) return 'within 2 % (every pair)';
	if (ratio >= TARGET_RATIO) return `within 2 % (median; pairs ±${(spread * 100).toFixed(1)} %)`;
	return `OVER 2 % (median ${((1 - ratio) * 100).toFixed(1)} %)`;
}

void main().catch((e: unknown) => {
	console.error(e);
	process.exit(1);
});
