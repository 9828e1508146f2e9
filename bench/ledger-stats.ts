/**
 * The job totals a Job Status poll and a cost cap read (`store.stats`, `reserveSpend` without a
 * cached total), timed on ledgers of 20,000 and 100,000 records in both dialects, nothing else
 * running. Each size also times the counts by status alone (the floor), the group commits that
 * wrote the records, and — where the ledger keeps each record's paid numbers as columns — the
 * same reads on the same records as a ledger written before those columns (columns NULL, read
 * from the JSON): before and after in one run, on one table. PostgreSQL is also timed right
 * after the writes, before VACUUM (as during a job).
 *
 *   npm run bench:ledger-stats -- [--sizes=20000,100000] [--reads=15] [--sqlite-only] [--explain]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { Client } from 'pg';

import { PostgresLedgerStore } from '../core/ledger/postgres';
import { jobTotalsSql, RECORDS_TABLE } from '../core/ledger/sql';
import { SqliteLedgerStore } from '../core/ledger/sqlite';
import type { LedgerStore, LedgerWrite } from '../core/ledger/types';
import type { ItemError, LlmResult } from '../core/types';
import { loadSqlite } from '../core/ledger/sqlite-tables';

const arg = (name: string, fallback: string) =>
	process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? fallback;
const SIZES = arg('sizes', '20000,100000').split(',').map(Number);
const READS = Number(arg('reads', '15'));
const SQLITE_ONLY = process.argv.includes('--sqlite-only');
const EXPLAIN = process.argv.includes('--explain');
const GROUP = 1000;
const PAID = ['paid_cost_usd', 'paid_input_tokens', 'paid_output_tokens'];

/**
 * The previous release's job totals query (main at 6905ec3), frozen here as the comparison run
 * on the same table at the same moments: counts and sums in one aggregate that extracts tokens
 * and cost from every record's JSON. PostgreSQL only.
 */
const PREVIOUS_STATS = `SELECT count(*) AS total,
 count(*) FILTER (WHERE status = 'pending') AS pending, count(*) FILTER (WHERE status = 'processing') AS processing,
 count(*) FILTER (WHERE status = 'succeeded') AS succeeded, count(*) FILTER (WHERE status = 'failed') AS failed,
 sum(attempts) AS attempts,
 coalesce(sum(CASE WHEN status = 'succeeded' AND (result->>'cached') IS DISTINCT FROM 'true' THEN (result->'usage'->>'inputTokens')::numeric
          WHEN status = 'failed' THEN (last_error->'usage'->>'inputTokens')::numeric END), 0) + coalesce(sum(prior_input_tokens), 0) AS input_tokens,
 coalesce(sum(CASE WHEN status = 'succeeded' AND (result->>'cached') IS DISTINCT FROM 'true' THEN (result->'usage'->>'outputTokens')::numeric
          WHEN status = 'failed' THEN (last_error->'usage'->>'outputTokens')::numeric END), 0) + coalesce(sum(prior_output_tokens), 0) AS output_tokens,
 coalesce(sum(CASE WHEN status = 'succeeded' AND (result->>'cached') IS DISTINCT FROM 'true' THEN (result->>'costUsd')::numeric
          WHEN status = 'failed' THEN (last_error->>'costUsd')::numeric END), 0) + coalesce(sum(prior_cost_usd)::numeric, 0) AS cost_usd,
 min(created_at) AS first_created_at, max(updated_at) AS last_updated_at
 FROM ${RECORDS_TABLE} WHERE job = $1`;

interface Pg {
	host: string;
	port: number;
	database: string;
	user: string;
	password: string;
}

const id = (i: number) => `r${String(i).padStart(7, '0')}`;

/** An answer about the size of a classification with a short rationale (~1 KB of JSON). */
function answer(i: number, cached: boolean): LlmResult {
	const rationale = `record ${i}: `.padEnd(700, 'the ticket names a refund and a late parcel; ');
	return {
		recordId: `r${String(i).padStart(7, '0')}`,
		output: { label: ['billing', 'shipping', 'other'][i % 3], confidence: 0.9, rationale },
		text: JSON.stringify({ label: 'billing', rationale: rationale.slice(0, 120) }),
		model: 'gpt-4o-mini',
		provider: 'openai',
		finishReason: 'stop',
		usage: { inputTokens: 400 + (i % 50), outputTokens: 60 + (i % 7) },
		costUsd: 0.000097 + (i % 13) * 1e-7,
		attempts: 1,
		latencyMs: 180 + (i % 90),
		cached,
		promptHash: `h${i}`,
		completedAt: '2025-01-01T00:00:00.000Z',
	};
}

function paidFailure(i: number): ItemError {
	return {
		code: i % 2 ? 'schema_violation' : 'malformed_output',
		message: 'the answer broke the schema: /label must be one of billing, shipping, other',
		retryable: false,
		attempts: 2,
		usage: { inputTokens: 800, outputTokens: 120 },
		costUsd: 0.0002,
	};
}

/** Record i: 1 in 25 failed after paying, 1 in 50 a response-cache hit, 1 in 200 still processing. */
function writeFor(i: number, at: string): LedgerWrite | null {
	if (i % 200 === 7) return null;
	const id = `r${String(i).padStart(7, '0')}`;
	if (i % 25 === 3)
		return { type: 'failed', recordId: id, promptHash: `h${i}`, error: paidFailure(i), at };
	return { type: 'succeeded', result: answer(i, i % 50 === 11), at };
}

async function fill(store: LedgerStore, job: string, n: number): Promise<number[]> {
	const commits: number[] = [];
	for (let from = 0; from < n; from += GROUP) {
		const ids = Array.from({ length: Math.min(GROUP, n - from) }, (_, k) => from + k);
		const at = new Date(Date.UTC(2025, 0, 1) + from).toISOString();
		const until = new Date(Date.parse(at) + 600_000).toISOString();
		await store.claim(
			job,
			ids.map((i) => ({ recordId: `r${String(i).padStart(7, '0')}`, promptHash: `h${i}` })),
			'bench',
			at,
			until,
		);
		const writes = ids.map((i) => writeFor(i, at)).filter((w): w is LedgerWrite => w !== null);
		const t = performance.now();
		await store.writeBatch(job, writes);
		commits.push(performance.now() - t);
	}
	return commits;
}

/**
 * Both reads, alternating, while another handle keeps committing groups of 1,000 new results
 * to the same job (as a job's executions do): the new records are deleted afterwards.
 */
async function whileWriting(
	store: LedgerStore,
	job: string,
	n: number,
	stats: () => Promise<unknown>,
	previous: () => Promise<unknown>,
): Promise<{ stats: number[]; previous: number[] }> {
	let writing = true;
	const writer = (async () => {
		for (let from = n; writing; from += GROUP) {
			const ids = Array.from({ length: GROUP }, (_, k) => from + k);
			const at = new Date(Date.UTC(2025, 0, 2) + from).toISOString();
			// New records, as a job's later chunks: each claimed, then its outcome committed.
			await store.claim(
				job,
				ids.map((i) => ({ recordId: id(i), promptHash: `h${i}` })),
				'writer',
				at,
				new Date(Date.parse(at) + 600_000).toISOString(),
			);
			await store.writeBatch(
				job,
				ids.map((i) => writeFor(i, at)).filter((w): w is LedgerWrite => w !== null),
			);
		}
	})();
	const out = { stats: [] as number[], previous: [] as number[] };
	for (let i = 0; i < READS; i++) {
		for (const [key, fn] of [
			['stats', stats],
			['previous', previous],
		] as const) {
			const t = performance.now();
			await fn();
			out[key].push(performance.now() - t);
		}
	}
	writing = false;
	await writer;
	return out;
}

async function timed(reads: number, fn: () => Promise<unknown>): Promise<number[]> {
	await fn(); // warm: plans, caches
	const ms: number[] = [];
	for (let i = 0; i < reads; i++) {
		const t = performance.now();
		await fn();
		ms.push(performance.now() - t);
	}
	return ms;
}

const pctl = (xs: number[], p: number) => {
	const s = [...xs].sort((a, b) => a - b);
	return s[Math.min(s.length - 1, Math.floor(p * s.length))];
};
const cell = (xs: number[]) =>
	`${pctl(xs, 0.5).toFixed(1)} / ${pctl(xs, 0.95).toFixed(1)} / ${Math.max(...xs).toFixed(1)}`;

interface Dialect {
	name: 'sqlite' | 'postgres';
	open(): Promise<LedgerStore>;
	sql(text: string, params?: unknown[]): Promise<Array<Record<string, unknown>>>;
	countsSql: string;
	close(): Promise<void>;
}

async function measure(d: Dialect, n: number): Promise<void> {
	const store = await d.open();
	await store.init();
	const job = `bench-${n}`;
	const commits = await fill(store, job, n);
	const stats = () => store.stats(job);
	// As during a job: PostgreSQL's visibility map is not yet set for the pages just written, so
	// an index-only scan still visits them.
	const previous = () => d.sql(PREVIOUS_STATS, [job]);
	const fresh = d.name === 'postgres' ? await timed(READS, stats) : [];
	const freshPrevious = d.name === 'postgres' ? await timed(READS, previous) : [];
	if (d.name === 'postgres') await d.sql(`VACUUM ANALYZE ${RECORDS_TABLE}`);
	else await d.sql(`ANALYZE`);
	const reserve = async () => {
		const ticket = `t${Math.random()}`;
		const at = new Date().toISOString();
		await store.reserveSpend(job, {
			ticket,
			owner: 'bench',
			usd: 0.001,
			capUsd: 1e9,
			at,
			reservedUntil: new Date(Date.now() + 60_000).toISOString(),
		});
		await store.releaseSpend(job, [ticket]);
	};
	const counts = () => d.sql(d.countsSql, [job]);
	const totals = await stats();
	const row = (label: string, xs: number[]) =>
		console.log(`| ${d.name} | ${n} | ${label} | ${cell(xs)} |`);
	if (fresh.length > 0) {
		row('store.stats, just written (before VACUUM)', fresh);
		row('previous release query, just written (before VACUUM)', freshPrevious);
	}
	row('store.stats', await timed(READS, stats));
	if (d.name === 'postgres') row('previous release query', await timed(READS, previous));
	row('reserveSpend (records summed)', await timed(READS, reserve));
	row('counts by status alone', await timed(READS, counts));
	row('group commit of 1,000 results', commits);
	if (EXPLAIN) await explain(d, job);
	if (d.name === 'postgres') {
		const during = await whileWriting(store, job, n, stats, previous);
		row('store.stats while group commits write the job', during.stats);
		row('previous release query while group commits write the job', during.previous);
		await d.sql(`DELETE FROM ${RECORDS_TABLE} WHERE job = $1 AND record_id >= $2`, [job, id(n)]);
		await d.sql(`VACUUM ANALYZE ${RECORDS_TABLE}`);
	}
	const columns = await d.sql(
		d.name === 'postgres'
			? `SELECT column_name AS name FROM information_schema.columns WHERE table_name = '${RECORDS_TABLE}'`
			: `SELECT name FROM pragma_table_info('${RECORDS_TABLE}')`,
	);
	if (PAID.every((c) => columns.some((r) => r.name === c))) {
		// The same records as a ledger written before the columns: the reads fall back to the JSON.
		await d.sql(`UPDATE ${RECORDS_TABLE} SET ${PAID.map((c) => `${c} = NULL`).join(', ')}`);
		if (d.name === 'postgres') await d.sql(`VACUUM ANALYZE ${RECORDS_TABLE}`);
		const old = await stats();
		const same = JSON.stringify(old) === JSON.stringify(totals);
		row(
			`store.stats, columns NULL (old rows)${same ? '' : ' — TOTALS DIFFER'}`,
			await timed(READS, stats),
		);
		row('reserveSpend, columns NULL (old rows)', await timed(READS, reserve));
		if (!same) console.log(JSON.stringify({ totals, old }));
	}
	await store.deleteJob(job);
	await store.close();
}

/** The plan of the job totals' query, and (PostgreSQL) the sizes it reads from. */
async function explain(d: Dialect, job: string): Promise<void> {
	const plan =
		d.name === 'postgres'
			? await d.sql(`EXPLAIN (ANALYZE, BUFFERS) ${jobTotalsSql('postgres', '$1')}`, [job])
			: await d.sql(`EXPLAIN QUERY PLAN ${jobTotalsSql('sqlite', '?1')}`, [job]);
	for (const r of plan) console.log(`    ${String(r['QUERY PLAN'] ?? r.detail)}`);
	if (d.name === 'postgres') {
		const [sizes] = await d.sql(
			`SELECT pg_size_pretty(pg_table_size('${RECORDS_TABLE}')) AS heap,
			 (SELECT string_agg(indexrelname || ' ' || pg_size_pretty(pg_relation_size(indexrelid)), ', ')
			  FROM pg_stat_user_indexes WHERE relname = '${RECORDS_TABLE}') AS indexes`,
		);
		console.log(`    table ${String(sizes.heap)}; indexes ${String(sizes.indexes)}`);
	}
}

async function main(): Promise<void> {
	const dir = mkdtempSync(join(tmpdir(), 'ledger-stats-'));
	console.log(`| ledger | records | read | ms p50 / p95 / max (${READS} reads) |`);
	console.log('| --- | ---: | --- | --- |');
	try {
		for (const n of SIZES) {
			const path = join(dir, `ledger-${n}.sqlite`);
			const db = () => new (loadSqlite().DatabaseSync)(path);
			await measure(
				{
					name: 'sqlite',
					open: async () => new SqliteLedgerStore({ kind: 'sqlite', path }),
					sql: async (text, params = []) => {
						const h = db();
						try {
							return h.prepare(text).all(...(params as string[])) as Array<Record<string, unknown>>;
						} finally {
							h.close();
						}
					},
					countsSql: `SELECT status, count(*) AS n FROM ${RECORDS_TABLE} WHERE job = ? GROUP BY status`,
					close: async () => undefined,
				},
				n,
			);
		}
		if (SQLITE_ONLY) return;
		const cluster = (await import(join(process.cwd(), 'scripts/n8n/postgres.mjs'))) as {
			startPostgres(): Promise<Pg>;
			stopPostgres(pg: Pg): void;
		};
		const pg = await cluster.startPostgres();
		const client = new Client(pg);
		await client.connect();
		try {
			for (const n of SIZES) {
				await measure(
					{
						name: 'postgres',
						open: async () => new PostgresLedgerStore({ kind: 'postgres', ...pg }),
						sql: async (text, params = []) => (await client.query(text, params)).rows,
						countsSql: `SELECT status, count(*) AS n FROM ${RECORDS_TABLE} WHERE job = $1 GROUP BY status`,
						close: async () => undefined,
					},
					n,
				);
			}
		} finally {
			await client.end();
			cluster.stopPostgres(pg);
		}
	} finally {
		rmSync(dir, { recursive: true, force: true });
	}
}

main().catch((error: unknown) => {
	console.error(error);
	process.exitCode = 1;
});
