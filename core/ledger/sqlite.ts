/**
 * The embedded default store: one SQLite file through `node:sqlite` (built into Node 22.5+,
 * stable in Node 24), so the ledger needs no server and no native add-on.
 *
 * Durability: WAL with synchronous=NORMAL. A commit is in the WAL file (the OS page cache)
 * when `COMMIT` returns, so it survives a killed process (SIGKILL, OOM, a crashed n8n); only
 * a power loss or kernel crash can lose the last commits. FULL would fsync every commit and
 * cost ~ms per group for protection n8n's own database does not have either.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { DatabaseSync as DatabaseSyncType, StatementSync } from 'node:sqlite';

import type { LlmResult } from '../types';
import { fromSqliteError, ledgerError } from './errors';
import { loadSqlite } from './sqlite-tables';
import { foldWrites, startedWrites } from './fold';
import { buildStats, toRecord, type RecordRow } from './rows';
import { addedRecordColumns, recordIndexes, recordsSchema, SQLITE_TYPES } from './schema';
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
import type {
	ClaimEntry,
	ClaimState,
	JobStats,
	LedgerRecord,
	LedgerStore,
	LedgerWrite,
	ListOptions,
	SpendReservation,
	SpendVerdict,
	SqliteStoreConfig,
} from './types';

const SCHEMA = recordsSchema(SQLITE_TYPES);

export class SqliteLedgerStore implements LedgerStore {
	readonly kind = 'sqlite';
	readonly label: string;
	readonly path: string;
	private readonly busyTimeoutMs: number;
	private db: DatabaseSyncType | undefined;
	private statements = new Map<string, StatementSync>();

	constructor(config: SqliteStoreConfig & { path: string }) {
		this.path = config.path;
		this.label = `SQLite ${config.path}`;
		this.busyTimeoutMs = config.busyTimeoutMs ?? 5000;
		if (!Number.isInteger(this.busyTimeoutMs) || this.busyTimeoutMs < 0) {
			throw new TypeError(
				`Expected \`busyTimeoutMs\` to be a non-negative integer, got ${config.busyTimeoutMs}`,
			);
		}
	}

	async init(): Promise<void> {
		if (this.db) return;
		let db: DatabaseSyncType | undefined;
		try {
			mkdirSync(dirname(this.path), { recursive: true });
			const { DatabaseSync } = loadSqlite();
			db = new DatabaseSync(this.path, { timeout: this.busyTimeoutMs });
			// journal_mode reads the header first, so a file that is not a database fails here.
			db.exec('PRAGMA journal_mode = WAL');
			db.exec('PRAGMA synchronous = NORMAL');
			db.exec(`PRAGMA busy_timeout = ${this.busyTimeoutMs}`);
			db.exec(SCHEMA);
			const columns = new Set(
				(db.prepare(`PRAGMA table_info(${RECORDS_TABLE})`).all() as Array<{ name: string }>).map(
					(c) => c.name,
				),
			);
			for (const { name, definition } of addedRecordColumns(SQLITE_TYPES)) {
				if (!columns.has(name))
					db.exec(`ALTER TABLE ${RECORDS_TABLE} ADD COLUMN ${name} ${definition}`);
			}
			db.exec(recordIndexes('sqlite'));
			// quick_check reads every page: catches a damaged file now instead of mid-run.
			const check = db.prepare('PRAGMA quick_check').all() as Array<Record<string, unknown>>;
			const first = check[0] ? String(Object.values(check[0])[0]) : 'ok';
			if (first !== 'ok') {
				throw ledgerError(
					'store_corrupt',
					this.label,
					'be opened',
					`integrity check failed: ${first}`,
				);
			}
		} catch (error) {
			try {
				db?.close();
			} catch {
				// The open failed already; the first error is the one to report.
			}
			throw fromSqliteError(error, this.label, 'be opened');
		}
		this.db = db;
	}

	private get handle(): DatabaseSyncType {
		if (!this.db) {
			throw ledgerError(
				'store_unavailable',
				this.label,
				'be used',
				'the store is not open (call init() first)',
			);
		}
		return this.db;
	}

	private stmt(sql: string): StatementSync {
		let statement = this.statements.get(sql);
		if (!statement) {
			statement = this.handle.prepare(sql);
			this.statements.set(sql, statement);
		}
		return statement;
	}

	private run<T>(action: string, fn: () => T): T {
		try {
			return fn();
		} catch (error) {
			throw fromSqliteError(error, this.label, action);
		}
	}

	/** BEGIN IMMEDIATE takes the write lock up front, so two processes never deadlock on upgrade. */
	private transaction<T>(action: string, fn: () => T): T {
		return this.run(action, () => {
			const db = this.handle;
			db.exec('BEGIN IMMEDIATE');
			try {
				const value = fn();
				db.exec('COMMIT');
				return value;
			} catch (error) {
				if (db.isTransaction) db.exec('ROLLBACK');
				throw fromSqliteError(error, this.label, action);
			}
		});
	}

	async getMany(job: string, recordIds: readonly string[]): Promise<Map<string, LedgerRecord>> {
		const out = new Map<string, LedgerRecord>();
		if (recordIds.length === 0) return out;
		const rows = this.run(
			'read records',
			() =>
				this.stmt(
					`SELECT * FROM ${RECORDS_TABLE} WHERE job = ? AND record_id IN (SELECT value FROM json_each(?))`,
				).all(job, JSON.stringify(recordIds)) as unknown as RecordRow[],
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
		this.transaction('claim records', () => {
			const take = this.stmt(
				`INSERT INTO ${RECORDS_TABLE} (job, record_id, status, attempts, prompt_hash, last_error, result, created_at, updated_at, lease_owner, lease_until)
				 VALUES (?, ?, 'processing', 1, ?, NULL, NULL, ?, ?, ?, ?)
				 ON CONFLICT (job, record_id) DO UPDATE SET status = 'processing',
				 attempts = ${RECORDS_TABLE}.attempts + 1, prompt_hash = excluded.prompt_hash,
				 updated_at = excluded.updated_at, lease_owner = excluded.lease_owner, lease_until = excluded.lease_until,
				 ${foldPriorPaid('sqlite', '? = 0')}
				 ${CLAIMABLE}
				 RETURNING record_id`,
			);
			const read = this.stmt(
				`SELECT status, prompt_hash, result, lease_until, lease_owner FROM ${RECORDS_TABLE} WHERE job = ? AND record_id = ?`,
			);
			for (const e of entries) {
				const included = e.priorIncluded ? 1 : 0;
				if (
					take.get(
						job,
						e.recordId,
						e.promptHash,
						at,
						at,
						owner,
						leaseUntil,
						included,
						included,
						included,
					)
				) {
					out.set(e.recordId, { status: 'claimed' });
					continue;
				}
				const row = read.get(job, e.recordId) as unknown as Pick<
					RecordRow,
					'status' | 'prompt_hash'
				> & { result: string | null; lease_until: string | null; lease_owner: string | null };
				out.set(
					e.recordId,
					row.status === 'succeeded' && row.result !== null
						? { status: 'done', result: JSON.parse(row.result) }
						: { status: 'busy', leaseUntil: row.lease_until ?? at, owner: row.lease_owner ?? '' },
				);
			}
		});
		return out;
	}

	async expireClaims(job: string, owner: string): Promise<number> {
		const result = this.transaction('expire claims', () =>
			this.stmt(
				`UPDATE ${RECORDS_TABLE} SET lease_until = NULL
				 WHERE job = ? AND lease_owner = ? AND status = 'processing' AND lease_until IS NOT NULL`,
			).run(job, owner),
		);
		return Number(result.changes);
	}

	async writeBatch(job: string, writes: readonly LedgerWrite[]): Promise<void> {
		if (writes.length === 0) return;
		const { changes, cache } = foldWrites(writes);
		this.transaction('write results', () => {
			const insert = this.stmt(
				`INSERT INTO ${RECORDS_TABLE} (job, record_id, status, attempts, prompt_hash, last_error, result, created_at, updated_at)
				 VALUES (?, ?, 'pending', 0, '', NULL, NULL, ?, ?) ON CONFLICT (job, record_id) DO NOTHING`,
			);
			const touch = this.stmt(
				`INSERT INTO ${RECORDS_TABLE} (job, record_id, status, attempts, prompt_hash, last_error, result, created_at, updated_at)
				 VALUES (?, ?, ?, ?, ?, NULL, NULL, ?, ?)
				 ON CONFLICT (job, record_id) DO UPDATE SET status = excluded.status,
				 attempts = ${RECORDS_TABLE}.attempts + excluded.attempts, prompt_hash = excluded.prompt_hash,
				 updated_at = excluded.updated_at, ${foldPriorPaid('sqlite')} ${KEEP_SUCCESS}`,
			);
			// The outcome's paid numbers are computed from the values written, by the statement
			// itself; `WHERE true` tells SQLite's parser the SELECT ends before ON CONFLICT.
			const final = this.stmt(
				`INSERT INTO ${RECORDS_TABLE} (job, record_id, status, attempts, prompt_hash, last_error, result, created_at, updated_at,
				 ${PAID_COLUMNS.join(', ')})
				 SELECT v.job, v.record_id, v.status, v.attempts, v.prompt_hash, v.last_error, v.result, v.at, v.at,
				 ${paidValues('sqlite', { status: 'v.status', result: 'v.result', lastError: 'v.last_error' })}
				 FROM (SELECT ? AS job, ? AS record_id, ? AS status, ? AS attempts, ? AS prompt_hash, ? AS last_error,
				   ? AS result, ? AS at) AS v WHERE true
				 ON CONFLICT (job, record_id) DO UPDATE SET status = excluded.status,
				 attempts = ${RECORDS_TABLE}.attempts + excluded.attempts, prompt_hash = excluded.prompt_hash,
				 last_error = excluded.last_error, result = excluded.result, updated_at = excluded.updated_at,
				 ${SET_PAID}, ${foldPriorPaid('sqlite', '? = 1')} ${KEEP_SUCCESS}`,
			);
			for (const c of changes) {
				if (c.kind === 'insert') insert.run(job, c.recordId, c.at, c.at);
				else if (c.kind === 'touch')
					touch.run(job, c.recordId, c.status, c.attemptsDelta, c.promptHash, c.at, c.at);
				else {
					const fold = c.foldPrior ? 1 : 0;
					final.run(
						job,
						c.recordId,
						c.status,
						c.attemptsDelta,
						c.promptHash,
						c.lastError === null ? null : JSON.stringify(c.lastError),
						c.result === null ? null : JSON.stringify(c.result),
						c.at,
						fold,
						fold,
						fold,
					);
				}
			}
			this.putCache(job, cache, writes[writes.length - 1].at);
		});
	}

	private putCache(
		job: string,
		entries: ReadonlyArray<{ key: string; result: LlmResult }>,
		at: string,
	): void {
		if (entries.length === 0) return;
		const put = this.stmt(
			`INSERT INTO ${CACHE_TABLE} (prompt_hash, job, result, created_at) VALUES (?, ?, ?, ?)
			 ON CONFLICT (prompt_hash) DO NOTHING`,
		);
		for (const e of entries) put.run(e.key, job, JSON.stringify(e.result), at);
	}

	async list(job: string, options: ListOptions = {}): Promise<LedgerRecord[]> {
		const limit = options.limit ?? DEFAULT_PAGE;
		const rows = this.run('list records', () =>
			options.status
				? (this.stmt(
						`SELECT * FROM ${RECORDS_TABLE} WHERE job = ? AND status = ? AND record_id > ? ORDER BY record_id LIMIT ?`,
					).all(job, options.status, options.afterRecordId ?? '', limit) as unknown as RecordRow[])
				: (this.stmt(
						`SELECT * FROM ${RECORDS_TABLE} WHERE job = ? AND record_id > ? ORDER BY record_id LIMIT ?`,
					).all(job, options.afterRecordId ?? '', limit) as unknown as RecordRow[]),
		);
		return rows.map(toRecord);
	}

	async listStale(job: string, olderThan: string, limit = DEFAULT_PAGE): Promise<LedgerRecord[]> {
		const rows = this.run(
			'list stale records',
			() =>
				this.stmt(
					`SELECT * FROM ${RECORDS_TABLE} WHERE job = ? AND status = 'processing' AND updated_at < ?
					 ORDER BY record_id LIMIT ?`,
				).all(job, olderThan, limit) as unknown as RecordRow[],
		);
		return rows.map(toRecord);
	}

	async requeueStale(job: string, olderThan: string, at: string): Promise<LedgerRecord[]> {
		const rows = this.transaction(
			'requeue stale records',
			() =>
				this.stmt(
					`UPDATE ${RECORDS_TABLE} SET status = 'pending', updated_at = ?
					 WHERE job = ? AND status = 'processing' AND updated_at < ? RETURNING *`,
				).all(at, job, olderThan) as unknown as RecordRow[],
		);
		return rows
			.map(toRecord)
			.sort((a, b) => (a.recordId < b.recordId ? -1 : a.recordId > b.recordId ? 1 : 0));
	}

	async requeue(job: string, recordIds: readonly string[], at: string): Promise<number> {
		if (recordIds.length === 0) return 0;
		const result = this.transaction('requeue records', () =>
			this.stmt(
				`UPDATE ${RECORDS_TABLE} SET status = 'pending', updated_at = ?, ${foldPriorPaid('sqlite')}
				 WHERE job = ? AND status <> 'pending' AND record_id IN (SELECT value FROM json_each(?))`,
			).run(at, job, JSON.stringify(recordIds)),
		);
		return Number(result.changes);
	}

	async stats(job: string): Promise<JobStats> {
		return this.run('read job stats', () => {
			const totals = this.stmt(jobTotalsSql('sqlite', '?1')).get(job) as Record<string, unknown>;
			const codes = this.stmt(
				`SELECT json_extract(last_error, '$.code') AS code, count(*) AS n FROM ${RECORDS_TABLE}
				 WHERE job = ? AND status = 'failed' GROUP BY 1 ORDER BY 1`,
			).all(job) as Array<{ code: string | null; n: number }>;
			return buildStats(job, totals, codes);
		});
	}

	async reserveSpend(job: string, r: SpendReservation): Promise<SpendVerdict> {
		return this.transaction('reserve spend', () => {
			this.stmt(
				`DELETE FROM ${SPEND_TABLE} WHERE job = ? AND spend_state = 'paid' AND spend_usd <= ? AND stored_at < ?`,
			).run(job, SPEND_EPSILON, shiftIso(r.at, -STORED_KEEP_MS));
			// A reservation whose lease ended (its execution died with the request out) holds no
			// more, but counts as paid at its most: the provider may have billed the request.
			this.stmt(
				`UPDATE ${SPEND_TABLE} SET spend_state = 'paid', reserved_until = NULL
				 WHERE job = ? AND spend_state = 'reserved' AND reserved_until <= ?`,
			).run(job, r.at);
			const recordsPaid = r.recordsPaid ?? {
				usd: Number(
					(this.stmt(jobPaidSql('sqlite', '?1')).get(job) as { usd: number | null }).usd ?? 0,
				),
				at: r.at,
			};
			const apart = this.stmt(
				`SELECT coalesce(sum(CASE WHEN spend_state = 'paid' THEN spend_usd END), 0) AS paid,
				 coalesce(sum(CASE WHEN spend_state = 'paid' AND stored_at >= ? THEN stored_usd END), 0) AS stored,
				 coalesce(sum(CASE WHEN spend_state = 'reserved' THEN spend_usd END), 0) AS reserved
				 FROM ${SPEND_TABLE} WHERE job = ?`,
			).get(shiftIso(recordsPaid.at, -STORED_MARGIN_MS), job) as {
				paid: number;
				stored: number;
				reserved: number;
			};
			const paidUsd = recordsPaid.usd + Number(apart.paid) + Number(apart.stored);
			const reservedUsd = Number(apart.reserved);
			if (paidUsd + reservedUsd + r.usd > r.capUsd + SPEND_EPSILON) {
				const holders = this.stmt(
					`SELECT DISTINCT spend_owner AS owner FROM ${SPEND_TABLE} WHERE job = ? AND spend_state = 'reserved'`,
				).all(job) as Array<{ owner: string }>;
				return {
					reserved: false,
					paidUsd,
					reservedUsd,
					holders: holders.map((h) => h.owner),
					recordsPaid,
				};
			}
			this.stmt(
				`INSERT INTO ${SPEND_TABLE} (job, spend_ticket, spend_owner, spend_state, spend_usd, reserved_until)
				 VALUES (?, ?, ?, 'reserved', ?, ?)`,
			).run(job, r.ticket, r.owner, r.usd, r.reservedUntil);
			return { reserved: true, paidUsd, reservedUsd, recordsPaid };
		});
	}

	async settleSpend(
		job: string,
		spend: { ticket: string; owner: string; usd: number },
	): Promise<void> {
		this.transaction('settle spend', () => {
			if (spend.usd <= SPEND_EPSILON) {
				this.stmt(`DELETE FROM ${SPEND_TABLE} WHERE job = ? AND spend_ticket = ?`).run(
					job,
					spend.ticket,
				);
				return;
			}
			this.stmt(
				`INSERT INTO ${SPEND_TABLE} (job, spend_ticket, spend_owner, spend_state, spend_usd, reserved_until)
				 VALUES (?, ?, ?, 'paid', ?, NULL)
				 ON CONFLICT (job, spend_ticket) DO UPDATE SET spend_state = 'paid',
				 spend_usd = excluded.spend_usd, reserved_until = NULL`,
			).run(job, spend.ticket, spend.owner, spend.usd);
		});
	}

	async releaseSpend(job: string, tickets: readonly string[]): Promise<void> {
		if (tickets.length === 0) return;
		this.transaction('release spend', () =>
			this.stmt(
				`DELETE FROM ${SPEND_TABLE} WHERE job = ? AND spend_ticket IN (SELECT value FROM json_each(?))`,
			).run(job, JSON.stringify(tickets)),
		);
	}

	async recordedSpend(job: string, ticket: string, usd: number, at: string): Promise<void> {
		this.transaction('record spend', () =>
			this.stmt(
				`UPDATE ${SPEND_TABLE} SET spend_usd = max(0, spend_usd - ?), stored_usd = stored_usd + ?, stored_at = ?
				 WHERE job = ? AND spend_ticket = ? AND spend_state = 'paid'`,
			).run(usd, usd, at, job, ticket),
		);
	}

	async expireSpend(job: string, owner: string): Promise<number> {
		const result = this.transaction('expire spend reservations', () =>
			this.stmt(
				`UPDATE ${SPEND_TABLE} SET spend_state = 'paid', reserved_until = NULL
				 WHERE job = ? AND spend_owner = ? AND spend_state = 'reserved'`,
			).run(job, owner),
		);
		return Number(result.changes);
	}

	async deleteJob(job: string): Promise<number> {
		return this.transaction('delete the job', () => {
			this.stmt(`DELETE FROM ${SPEND_TABLE} WHERE job = ?`).run(job);
			this.stmt(`DELETE FROM ${CACHE_TABLE} WHERE job = ?`).run(job);
			return Number(this.stmt(`DELETE FROM ${RECORDS_TABLE} WHERE job = ?`).run(job).changes);
		});
	}

	async cacheGet(keys: readonly string[]): Promise<Map<string, LlmResult>> {
		const out = new Map<string, LlmResult>();
		if (keys.length === 0) return out;
		const rows = this.run(
			'read the response cache',
			() =>
				this.stmt(
					`SELECT prompt_hash, result FROM ${CACHE_TABLE} WHERE prompt_hash IN (SELECT value FROM json_each(?))`,
				).all(JSON.stringify(keys)) as Array<{ prompt_hash: string; result: string }>,
		);
		for (const row of rows) out.set(row.prompt_hash, JSON.parse(row.result));
		return out;
	}

	async cachePut(
		job: string,
		entries: ReadonlyArray<{ key: string; result: LlmResult }>,
		at: string,
	): Promise<void> {
		this.transaction('write the response cache', () => this.putCache(job, entries, at));
	}

	async close(): Promise<void> {
		this.statements.clear();
		const db = this.db;
		this.db = undefined;
		if (db?.isOpen) db.close();
	}
}

/** `iso` moved by `ms`. */
function shiftIso(iso: string, ms: number): string {
	return new Date(Date.parse(iso) + ms).toISOString();
}
