/**
 * Heartbeat overhead: LLM Batch Call (a real workflow through n8n-core's WorkflowExecute) with a
 * ledger, its job heartbeat on against the same run with it off, side by side, on SQLite and
 * PostgreSQL. The sandbox answers at once (in this process), so the run is as CPU-bound as it
 * gets and the heartbeat's share is as large as it can be.
 *
 * "Off" is the same code with the heartbeat's methods made no-ops for the round (the bench
 * patches the prototype): no beat, no row, no latency kept — what remains is constructing it.
 * Rounds alternate (ABBA…) and the ratio is the median of the per-pair ratios, so a machine
 * busy with other work weighs on both alike.
 *
 *   npm run bench:heartbeat -- [--items=5000] [--pairs=3] [--sqlite-only]
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
		concurrency: 16,
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
		beatsPerRun: beats / PAIRS,
		writeMsPerRun: writeMs / (PAIRS + 1),
	};
}

async function main() {
	const sandbox = await startSandbox({ seed: 1 });
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
	console.log(
		`Heartbeat overhead: ${ITEMS} items per run, ${PAIRS} alternating pairs, zero-latency sandbox, concurrency 16`,
	);
	console.log(
		'| ledger | with heartbeat (items/s) | without (items/s) | with ÷ without | range | beats per run | beat writes per run (ms) |',
	);
	console.log('|---|---:|---:|---:|---|---:|---:|');
	for (const r of rows)
		console.log(
			`| ${r.dialect} | ${r.withHeartbeat.toFixed(0)} | ${r.withoutHeartbeat.toFixed(0)} | ${r.ratio.toFixed(3)} | ${r.ratioRange.map((x) => x.toFixed(3)).join('–')} | ${r.beatsPerRun.toFixed(1)} | ${r.writeMsPerRun.toFixed(1)} |`,
		);
}

void main().catch((e: unknown) => {
	console.error(e);
	process.exit(1);
});
