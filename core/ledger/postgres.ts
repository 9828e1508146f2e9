/**
 * The shared store: PostgreSQL through `pg`, for n8n setups where several processes (main +
 * workers, or several instances) run the same job. Same schema as SQLite with JSONB columns;
 * each group commit is one transaction of multi-row upserts.
 */
import { Pool, type PoolClient, type PoolConfig, type QueryResultRow } from 'pg';

import type { LlmResult } from '../types';
import { ledgerError } from './errors';
import { LEDGER_POOL_SIZE, PostgresConnections } from './postgres-connections';
import { foldWrites, startedWrites, type NetChange } from './fold';
import {
	CACHE_TABLE,
	CLAIMABLE,
	DEFAULT_PAGE,
	foldPriorPaid,
	KEEP_SUCCESS,
	PAID_COLUMNS,
	jobPaidSql,
	jobTotalsSql,
	paidValues,
	RECORDS_TABLE,
	SET_PAID,
	SPEND_EPSILON,
	SPEND_TABLE,
	STORED_KEEP_MS,
	STORED_MARGIN_MS,
} from './sql';
import { buildStats, toRecord, type RecordRow } from './rows';
import { addedRecordColumns, POSTGRES_TYPES, recordIndexes, recordsSchema } from './schema';
import type {
	ClaimEntry,
	ClaimState,
	JobStats,
	LedgerRecord,
	LedgerStore,
	LedgerWrite,
	SpendReservation,
	SpendVerdict,
	ListOptions,
	PostgresStoreConfig,
} from './types';

const SCHEMA = [
	recordsSchema(POSTGRES_TYPES),
	...addedRecordColumns(POSTGRES_TYPES).map(
		(c) => `ALTER TABLE ${RECORDS_TABLE} ADD COLUMN IF NOT EXISTS ${c.name} ${c.definition};`,
	),
	recordIndexes('postgres'),
].join('\n');

/** Namespace of the per-job advisory lock that serialises budget reservations. */
const SPEND_LOCK_NAMESPACE = 740_305_119;

/** Serialises concurrent `CREATE TABLE IF NOT EXISTS` from several workers (it races on pg_type). */
const SCHEMA_LOCK_KEY = 740_305_118;

// Group commits upsert through unnest() over one array per column: one statement per kind of
// change whatever the group size (no 65,535-parameter cap, one parse), still a multi-row insert.

const COLUMNS =
	'(job, record_id, status, attempts, prompt_hash, last_error, result, created_at, updated_at)';
/** A final write stores its outcome's paid numbers with it (core/ledger/sql.ts PAID_COLUMNS). */
const FINAL_COLUMNS = `${COLUMNS.slice(0, -1)}, ${PAID_COLUMNS.join(', ')})`;

export class PostgresLedgerStore implements LedgerStore {
	readonly kind = 'postgres';
	readonly label: string;
	/**
	 * The pool, and the one way to use it (waiting out a busy database): shared with the
	 * batch-job tables and the heartbeats (core/ledger/companion.ts), which live in the same
	 * database. This store closes it.
	 */
	readonly db: PostgresConnections;
	private ready: Promise<void> | undefined;

	constructor(config: PostgresStoreConfig) {
		this.label = `PostgreSQL ${config.user}@${config.host}:${config.port}/${config.database}`;
		const poolConfig: PoolConfig = {
			host: config.host,
			port: config.port,
			database: config.database,
			user: config.user,
			password: config.password,
			ssl:
				config.ssl === undefined || config.ssl === false
					? undefined
					: config.ssl === true
						? {}
						: config.ssl,
			max: config.maxConnections ?? LEDGER_POOL_SIZE,
			connectionTimeoutMillis: config.connectionTimeoutMs ?? 10_000,
			idleTimeoutMillis: 30_000,
			// Idle connections must not keep an n8n worker (or a test) alive on exit.
			allowExitOnIdle: true,
			application_name: 'n8n-nodes-llm-batch',
		};
		const pool = new Pool(poolConfig);
		// An idle client losing its server emits on the pool; without a listener Node would crash.
		pool.on('error', () => undefined);
		this.db = new PostgresConnections(pool, this.label, {
			clock: config.clock,
			maxWaitMs: config.maxWaitMs,
		});
	}

	get pool(): Pool {
		return this.db.pool;
	}

	init(): Promise<void> {
		this.ready ??= this.db
			.transaction('be opened', async (client) => {
				await client.query('SELECT pg_advisory_xact_lock($1)', [SCHEMA_LOCK_KEY]);
				await client.query(SCHEMA);
			})
			.catch((error: unknown) => {
				this.ready = undefined; // a later call (fixed server, restarted database) tries again
				throw error;
			});
		return this.ready;
	}

	private async query<R extends QueryResultRow>(
		action: string,
		sql: string,
		params: unknown[],
	): Promise<R[]> {
		await this.init();
		return (await this.db.query<R>(action, sql, params)).rows;
	}

	private async transaction<T>(action: string, fn: (client: PoolClient) => Promise<T>): Promise<T> {
		await this.init();
		return this.db.transaction(action, fn);
	}

	async getMany(job: string, recordIds: readonly string[]): Promise<Map<string, LedgerRecord>> {
		const out = new Map<string, LedgerRecord>();
		if (recordIds.length === 0) return out;
		const rows = await this.query<RecordRow>(
			'read records',
			`SELECT * FROM ${RECORDS_TABLE} WHERE job = $1 AND record_id = ANY($2::text[])`,
			[job, recordIds],
		);
		for (const row of rows) out.set(row.record_id, toRecord(row));
		return out;
	}

	async markProcessing(
		job: string,
		entries: ReadonlyArray<{ recordId: string; promptHash: string }>,
		at: string,
	): Promise<void> {
		await this.writeBatch(job, startedWrites(entries, at));
	}

	async claim(
		job: string,
		entries: ReadonlyArray<ClaimEntry>,
		owner: string,
		at: string,
		leaseUntil: string,
	): Promise<Map<string, ClaimState>> {
		const out = new Map<string, ClaimState>();
		if (entries.length === 0) return out;
		// One entry per record (a multi-row upsert may not touch a row twice), locked in record
		// order so two claiming transactions never deadlock.
		const unique = [...new Map(entries.map((e) => [e.recordId, e])).values()].sort((a, b) =>
			a.recordId < b.recordId ? -1 : a.recordId > b.recordId ? 1 : 0,
		);
		// A record claimed for an attempt whose result carries what it paid before.
		const included = [...new Set(entries.filter((e) => e.priorIncluded).map((e) => e.recordId))];
		await this.transaction('claim records', async (client) => {
			// ON CONFLICT DO UPDATE locks the row and re-checks the WHERE on its newest version, so
			// of two concurrent claims exactly one takes a record (no SELECT … FOR UPDATE needed).
			const taken = await client.query<{ record_id: string }>(
				`INSERT INTO ${RECORDS_TABLE} (job, record_id, status, attempts, prompt_hash, last_error, result, created_at, updated_at, lease_owner, lease_until)
				 SELECT $1, u.record_id, 'processing', 1, u.prompt_hash, NULL, NULL, $2::timestamptz, $2::timestamptz, $3, $4::timestamptz
				 FROM unnest($5::text[], $6::text[]) WITH ORDINALITY AS u(record_id, prompt_hash, n) ORDER BY u.n
				 ON CONFLICT (job, record_id) DO UPDATE SET status = 'processing',
				 attempts = ${RECORDS_TABLE}.attempts + 1, prompt_hash = excluded.prompt_hash,
				 updated_at = excluded.updated_at, lease_owner = excluded.lease_owner, lease_until = excluded.lease_until,
				 ${foldPriorPaid('postgres', `NOT (${RECORDS_TABLE}.record_id = ANY($7::text[]))`)}
				 ${CLAIMABLE}
				 RETURNING record_id`,
				[
					job,
					at,
					owner,
					leaseUntil,
					unique.map((e) => e.recordId),
					unique.map((e) => e.promptHash),
					included,
				],
			);
			const claimed = new Set(taken.rows.map((r) => r.record_id));
			const others = unique.filter((e) => !claimed.has(e.recordId));
			const rows =
				others.length === 0
					? []
					: (
							await client.query<{
								record_id: string;
								status: string;
								result: LlmResult | null;
								lease_until: Date | null;
								lease_owner: string | null;
							}>(
								`SELECT record_id, status, result, lease_until, lease_owner FROM ${RECORDS_TABLE}
								 WHERE job = $1 AND record_id = ANY($2::text[])`,
								[job, others.map((e) => e.recordId)],
							)
						).rows;
			const byId = new Map(rows.map((r) => [r.record_id, r]));
			for (const e of entries) {
				if (claimed.has(e.recordId)) {
					out.set(e.recordId, { status: 'claimed' });
					continue;
				}
				const row = byId.get(e.recordId);
				out.set(
					e.recordId,
					row?.status === 'succeeded' && row.result
						? { status: 'done', result: row.result }
						: {
								status: 'busy',
								leaseUntil: row?.lease_until?.toISOString() ?? at,
								owner: row?.lease_owner ?? '',
							},
				);
			}
		});
		return out;
	}

	async expireClaims(job: string, owner: string): Promise<number> {
		const rows = await this.query<{ record_id: string }>(
			'expire claims',
			`UPDATE ${RECORDS_TABLE} SET lease_until = NULL
			 WHERE job = $1 AND lease_owner = $2 AND status = 'processing' AND lease_until IS NOT NULL
			 RETURNING record_id`,
			[job, owner],
		);
		return rows.length;
	}

	async writeBatch(job: string, writes: readonly LedgerWrite[]): Promise<void> {
		if (writes.length === 0) return;
		const { changes, cache } = foldWrites(writes);
		const byKind = (kind: NetChange['kind']) => changes.filter((c) => c.kind === kind);
		await this.transaction('write results', async (client) => {
			const inserts = byKind('insert');
			if (inserts.length > 0) {
				await client.query(
					`INSERT INTO ${RECORDS_TABLE} ${COLUMNS}
					 SELECT $1, u.record_id, 'pending', 0, '', NULL, NULL, u.at, u.at
					 FROM unnest($2::text[], $3::timestamptz[]) AS u(record_id, at)
					 ON CONFLICT (job, record_id) DO NOTHING`,
					[job, inserts.map((c) => c.recordId), inserts.map((c) => c.at)],
				);
			}
			const touches = byKind('touch');
			if (touches.length > 0) {
				await client.query(
					`INSERT INTO ${RECORDS_TABLE} ${COLUMNS}
					 SELECT $1, u.record_id, u.status, u.attempts, u.prompt_hash, NULL, NULL, u.at, u.at
					 FROM unnest($2::text[], $3::text[], $4::int[], $5::text[], $6::timestamptz[])
					   AS u(record_id, status, attempts, prompt_hash, at)
					 ON CONFLICT (job, record_id) DO UPDATE SET status = excluded.status,
					 attempts = ${RECORDS_TABLE}.attempts + excluded.attempts, prompt_hash = excluded.prompt_hash,
					 updated_at = excluded.updated_at, ${foldPriorPaid('postgres')} ${KEEP_SUCCESS}`,
					[
						job,
						touches.map((c) => c.recordId),
						touches.map((c) => c.status),
						touches.map((c) => c.attemptsDelta),
						touches.map((c) => c.promptHash),
						touches.map((c) => c.at),
					],
				);
			}
			const finals = byKind('final');
			if (finals.length > 0) {
				// One JSON document for the whole group: Postgres parses it once, where a jsonb[]
				// parameter costs a parse per element (measured 4x slower for 10,000 results).
				await client.query(
					`INSERT INTO ${RECORDS_TABLE} ${FINAL_COLUMNS}
					 SELECT $1, u.record_id, u.status, u.attempts, u.prompt_hash, u.last_error, u.result, u.at, u.at,
					 ${paidValues('postgres', { status: 'u.status', result: 'u.result', lastError: 'u.last_error' })}
					 FROM jsonb_to_recordset($2::jsonb)
					   AS u(record_id text, status text, attempts int, prompt_hash text, last_error jsonb, result jsonb, at timestamptz)
					 ON CONFLICT (job, record_id) DO UPDATE SET status = excluded.status,
					 attempts = ${RECORDS_TABLE}.attempts + excluded.attempts, prompt_hash = excluded.prompt_hash,
					 last_error = excluded.last_error, result = excluded.result, updated_at = excluded.updated_at,
					 ${SET_PAID}, ${foldPriorPaid('postgres', `${RECORDS_TABLE}.record_id = ANY($3::text[])`)}
					 ${KEEP_SUCCESS}`,
					[
						job,
						JSON.stringify(
							finals.map((c) => ({
								record_id: c.recordId,
								status: c.status,
								attempts: c.attemptsDelta,
								prompt_hash: c.promptHash,
								last_error: c.lastError,
								result: c.result,
								at: c.at,
							})),
						),
						finals.filter((c) => c.foldPrior).map((c) => c.recordId),
					],
				);
			}
			await this.putCache(client, job, cache, writes[writes.length - 1].at);
		});
	}

	private async putCache(
		client: PoolClient,
		job: string,
		entries: ReadonlyArray<{ key: string; result: LlmResult }>,
		at: string,
	): Promise<void> {
		if (entries.length === 0) return;
		await client.query(
			`INSERT INTO ${CACHE_TABLE} (prompt_hash, job, result, created_at)
			 SELECT u.entry->>'key', $1, u.entry->'result', $2::timestamptz
			 FROM jsonb_array_elements($3::jsonb) AS u(entry)
			 ON CONFLICT (prompt_hash) DO NOTHING`,
			[job, at, JSON.stringify(entries)],
		);
	}

	async list(job: string, options: ListOptions = {}): Promise<LedgerRecord[]> {
		const limit = options.limit ?? DEFAULT_PAGE;
		const rows = options.status
			? await this.query<RecordRow>(
					'list records',
					`SELECT * FROM ${RECORDS_TABLE} WHERE job = $1 AND status = $2 AND record_id > $3
					 ORDER BY record_id LIMIT $4`,
					[job, options.status, options.afterRecordId ?? '', limit],
				)
			: await this.query<RecordRow>(
					'list records',
					`SELECT * FROM ${RECORDS_TABLE} WHERE job = $1 AND record_id > $2 ORDER BY record_id LIMIT $3`,
					[job, options.afterRecordId ?? '', limit],
				);
		return rows.map(toRecord);
	}

	async listStale(job: string, olderThan: string, limit = DEFAULT_PAGE): Promise<LedgerRecord[]> {
		const rows = await this.query<RecordRow>(
			'list stale records',
			`SELECT * FROM ${RECORDS_TABLE} WHERE job = $1 AND status = 'processing' AND updated_at < $2::timestamptz
			 ORDER BY record_id LIMIT $3`,
			[job, olderThan, limit],
		);
		return rows.map(toRecord);
	}

	async requeueStale(job: string, olderThan: string, at: string): Promise<LedgerRecord[]> {
		const rows = await this.query<RecordRow>(
			'requeue stale records',
			`UPDATE ${RECORDS_TABLE} SET status = 'pending', updated_at = $1::timestamptz
			 WHERE job = $2 AND status = 'processing' AND updated_at < $3::timestamptz RETURNING *`,
			[at, job, olderThan],
		);
		return rows
			.map(toRecord)
			.sort((a, b) => (a.recordId < b.recordId ? -1 : a.recordId > b.recordId ? 1 : 0));
	}

	async requeue(job: string, recordIds: readonly string[], at: string): Promise<number> {
		if (recordIds.length === 0) return 0;
		const rows = await this.query<{ record_id: string }>(
			'requeue records',
			`UPDATE ${RECORDS_TABLE} SET status = 'pending', updated_at = $1::timestamptz, ${foldPriorPaid('postgres')}
			 WHERE job = $2 AND status <> 'pending' AND record_id = ANY($3::text[]) RETURNING record_id`,
			[at, job, recordIds],
		);
		return rows.length;
	}

	async stats(job: string): Promise<JobStats> {
		const [totals] = await this.query<Record<string, unknown>>(
			'read job stats',
			jobTotalsSql('postgres', '$1'),
			[job],
		);
		const codes = await this.query<{ code: string | null; n: string }>(
			'read job stats',
			`SELECT last_error->>'code' AS code, count(*) AS n FROM ${RECORDS_TABLE}
			 WHERE job = $1 AND status = 'failed' GROUP BY 1 ORDER BY 1`,
			[job],
		);
		return buildStats(job, totals, codes);
	}

	async reserveSpend(job: string, r: SpendReservation): Promise<SpendVerdict> {
		return this.transaction('reserve spend', async (client) => {
			// Reservations of one job one at a time: each sees the ones before it.
			await client.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [
				SPEND_LOCK_NAMESPACE,
				job,
			]);
			// Stored spend is timed by the server's clock (one clock for every host).
			await client.query(
				`DELETE FROM ${SPEND_TABLE} WHERE job = $1 AND spend_state = 'paid' AND spend_usd <= $2
				 AND stored_at < now() - make_interval(secs => $3)`,
				[job, SPEND_EPSILON, STORED_KEEP_MS / 1000],
			);
			// A reservation whose lease ended (its execution died with the request out) holds no
			// more, but counts as paid at its most: the provider may have billed the request.
			await client.query(
				`UPDATE ${SPEND_TABLE} SET spend_state = 'paid', reserved_until = NULL
				 WHERE job = $1 AND spend_state = 'reserved' AND reserved_until <= $2`,
				[job, r.at],
			);
			let recordsPaid = r.recordsPaid;
			if (!recordsPaid) {
				const records = await client.query<{ usd: string | null; at: Date }>(
					`SELECT (${jobPaidSql('postgres', '$1')}) AS usd, now() AS at`,
					[job],
				);
				recordsPaid = {
					usd: Number(records.rows[0]?.usd ?? 0),
					at: new Date(records.rows[0].at).toISOString(),
				};
			}
			const apart = await client.query<{
				paid: string;
				stored: string;
				reserved: string;
				holders: string[];
			}>(
				`SELECT coalesce(sum(spend_usd) FILTER (WHERE spend_state = 'paid'), 0) AS paid,
				 coalesce(sum(stored_usd) FILTER (WHERE spend_state = 'paid' AND stored_at >= $2), 0) AS stored,
				 coalesce(sum(spend_usd) FILTER (WHERE spend_state = 'reserved'), 0) AS reserved,
				 coalesce(array_agg(DISTINCT spend_owner) FILTER (WHERE spend_state = 'reserved'), '{}') AS holders
				 FROM ${SPEND_TABLE} WHERE job = $1`,
				[job, new Date(Date.parse(recordsPaid.at) - STORED_MARGIN_MS).toISOString()],
			);
			const row = apart.rows[0];
			const paidUsd = recordsPaid.usd + Number(row.paid) + Number(row.stored);
			const reservedUsd = Number(row.reserved);
			if (paidUsd + reservedUsd + r.usd > r.capUsd + SPEND_EPSILON)
				return { reserved: false, paidUsd, reservedUsd, holders: row.holders, recordsPaid };
			await client.query(
				`INSERT INTO ${SPEND_TABLE} (job, spend_ticket, spend_owner, spend_state, spend_usd, reserved_until)
				 VALUES ($1, $2, $3, 'reserved', $4, $5)`,
				[job, r.ticket, r.owner, r.usd, r.reservedUntil],
			);
			return { reserved: true, paidUsd, reservedUsd, recordsPaid };
		});
	}

	async settleSpend(
		job: string,
		spend: { ticket: string; owner: string; usd: number },
	): Promise<void> {
		if (spend.usd <= SPEND_EPSILON) {
			await this.query(
				'settle spend',
				`DELETE FROM ${SPEND_TABLE} WHERE job = $1 AND spend_ticket = $2`,
				[job, spend.ticket],
			);
			return;
		}
		await this.query(
			'settle spend',
			`INSERT INTO ${SPEND_TABLE} (job, spend_ticket, spend_owner, spend_state, spend_usd, reserved_until)
			 VALUES ($1, $2, $3, 'paid', $4, NULL)
			 ON CONFLICT (job, spend_ticket) DO UPDATE SET spend_state = 'paid',
			 spend_usd = excluded.spend_usd, reserved_until = NULL`,
			[job, spend.ticket, spend.owner, spend.usd],
		);
	}

	async releaseSpend(job: string, tickets: readonly string[]): Promise<void> {
		if (tickets.length === 0) return;
		await this.query(
			'release spend',
			`DELETE FROM ${SPEND_TABLE} WHERE job = $1 AND spend_ticket = ANY($2::text[])`,
			[job, tickets],
		);
	}

	async recordedSpend(job: string, ticket: string, usd: number): Promise<void> {
		// Timed by the server's clock, as the readings of the records are.
		await this.query(
			'record spend',
			`UPDATE ${SPEND_TABLE} SET spend_usd = greatest(0, spend_usd - $3), stored_usd = stored_usd + $3, stored_at = now()
			 WHERE job = $1 AND spend_ticket = $2 AND spend_state = 'paid'`,
			[job, ticket, usd],
		);
	}

	async expireSpend(job: string, owner: string): Promise<number> {
		const rows = await this.query<{ spend_ticket: string }>(
			'expire spend reservations',
			`UPDATE ${SPEND_TABLE} SET spend_state = 'paid', reserved_until = NULL
			 WHERE job = $1 AND spend_owner = $2 AND spend_state = 'reserved'
			 RETURNING spend_ticket`,
			[job, owner],
		);
		return rows.length;
	}

	async deleteJob(job: string): Promise<number> {
		return this.transaction('delete the job', async (client) => {
			await client.query(`DELETE FROM ${SPEND_TABLE} WHERE job = $1`, [job]);
			await client.query(`DELETE FROM ${CACHE_TABLE} WHERE job = $1`, [job]);
			return (
				(await client.query(`DELETE FROM ${RECORDS_TABLE} WHERE job = $1`, [job])).rowCount ?? 0
			);
		});
	}

	async cacheGet(keys: readonly string[]): Promise<Map<string, LlmResult>> {
		const out = new Map<string, LlmResult>();
		if (keys.length === 0) return out;
		const rows = await this.query<{ prompt_hash: string; result: LlmResult }>(
			'read the response cache',
			`SELECT prompt_hash, result FROM ${CACHE_TABLE} WHERE prompt_hash = ANY($1::text[])`,
			[keys],
		);
		for (const row of rows) out.set(row.prompt_hash, row.result);
		return out;
	}

	async cachePut(
		job: string,
		entries: ReadonlyArray<{ key: string; result: LlmResult }>,
		at: string,
	): Promise<void> {
		if (entries.length === 0) return;
		await this.transaction('write the response cache', (client) =>
			this.putCache(client, job, entries, at),
		);
	}

	async close(): Promise<void> {
		try {
			await this.pool.end();
		} catch (error) {
			throw ledgerError(
				'store_unavailable',
				this.label,
				'be closed',
				(error as Error).message,
				error,
			);
		}
	}
}
