/**
 * The batch-job tables in the SQLite ledger file, on a connection of their own (WAL lets it
 * share the file with the records' connection).
 */
import type { DatabaseSync } from 'node:sqlite';

import type { AnswerEntry, BatchEntry, BatchJobStore, BatchRow, BatchRowPatch } from './batches';
import type { KeptFileMeta } from '../files';
import {
	FILES_TABLE,
	RECORD_FILE_COLUMNS,
	RECORD_FILES_TABLE,
	UNREFERENCED_FILES,
	keptFilesSchema,
	recordFileValues,
	toRecordFiles,
	type RecordFileDbRow,
} from './files-sql';
import {
	ADOPTIONS_TABLE,
	BATCH_INSERT_COLUMNS,
	BATCHES_TABLE,
	COLLECT_LEASE_COLUMNS,
	EMITTED,
	ENTRIES_TABLE,
	ENTRY_COLUMNS,
	ENTRY_FROM,
	PAYLOADS_TABLE,
	batchJobSchema,
	REQUESTS_OF_ENTRIES,
} from './sql';
import {
	batchRowValues,
	toPendingSubmission,
	toAnswerEntry,
	toBatchRow,
	toEntry,
	type AnswerEntryDbRow,
	type BatchDbRow,
	type EntryDbRow,
} from './rows';
import { SqliteTables } from '../../ledger/sqlite-tables';

const SCHEMA = batchJobSchema('TEXT') + keptFilesSchema('TEXT', 'BLOB');

export class SqliteBatchStore extends SqliteTables implements BatchJobStore {
	constructor(path: string, label: string) {
		super(path, label, 5000);
	}

	protected setUp(db: DatabaseSync): void {
		// A large Submit writes hundreds of MB in many transactions: the WAL is cut back
		// after each checkpoint instead of staying as large as the largest one.
		db.exec('PRAGMA journal_size_limit = 33554432');
		db.exec(SCHEMA);
		// A ledger written before collect leases gets their columns now.
		const columns = new Set(
			(db.prepare(`PRAGMA table_info(${BATCHES_TABLE})`).all() as Array<{ name: string }>).map(
				(c) => c.name,
			),
		);
		for (const column of COLLECT_LEASE_COLUMNS)
			if (!columns.has(column)) db.exec(`ALTER TABLE ${BATCHES_TABLE} ADD COLUMN ${column} TEXT`);
	}

	async addBatch(b: BatchRow, entries: readonly BatchEntry[]): Promise<void> {
		await this.init();
		this.run(
			'record the batch',
			() => {
				this.stmt(
					`INSERT INTO ${BATCHES_TABLE} (${BATCH_INSERT_COLUMNS})
					 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
				).run(...batchRowValues(b));
				const put = this.stmt(
					`INSERT INTO ${ENTRIES_TABLE} (job, record_id, custom_id, batch_id, prompt_hash, request, item, item_index, round, emitted, submitted_at)
					 VALUES (?, ?, ?, ?, ?, '', '', ?, ?, ?, ?)
					 ON CONFLICT (job, record_id) DO UPDATE SET custom_id = excluded.custom_id, batch_id = excluded.batch_id,
					 prompt_hash = excluded.prompt_hash, request = '', item = '',
					 item_index = excluded.item_index, round = excluded.round, emitted = excluded.emitted,
					 submitted_at = excluded.submitted_at`,
				);
				for (const e of entries) {
					put.run(
						b.job,
						e.recordId,
						e.customId,
						e.batchId,
						e.promptHash,
						e.itemIndex,
						e.round,
						e.emitted ? 1 : 0,
						e.submittedAt,
					);
				}
				this.putPayloads(b.job, entries);
			},
			true,
		);
	}

	/** The entries' items and requests, one row per record (inside the caller's transaction). */
	private putPayloads(job: string, entries: readonly BatchEntry[]): void {
		const put = this.stmt(
			`INSERT INTO ${PAYLOADS_TABLE} (job, record_id, request, item) VALUES (?, ?, ?, ?)
			 ON CONFLICT (job, record_id) DO UPDATE SET request = excluded.request, item = excluded.item`,
		);
		for (const e of entries) put.run(job, e.recordId, e.request, e.item);
		this.putFiles(job, entries);
	}

	/**
	 * The entries' kept files (inside the caller's transaction): each record's rows replaced,
	 * each file's bytes stored unless a file of the same content already is.
	 */
	private putFiles(job: string, entries: readonly BatchEntry[]): void {
		const clear = this.stmt(`DELETE FROM ${RECORD_FILES_TABLE} WHERE job = ? AND record_id = ?`);
		const row = this.stmt(
			`INSERT INTO ${RECORD_FILES_TABLE} (job, record_id, ${RECORD_FILE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		);
		const file = this.stmt(
			`INSERT INTO ${FILES_TABLE} (sha256, size, data) VALUES (?, ?, ?) ON CONFLICT (sha256) DO NOTHING`,
		);
		for (const e of entries) {
			if (e.files === undefined) continue;
			clear.run(job, e.recordId);
			e.files.forEach((f, position) => {
				row.run(job, e.recordId, ...recordFileValues(f, position));
				if (f.sha256 !== undefined && f.bytes) file.run(f.sha256, f.bytes.length, f.bytes);
			});
		}
	}

	async recordFiles(
		job: string,
		recordIds: readonly string[],
	): Promise<Map<string, KeptFileMeta[]>> {
		await this.init();
		if (recordIds.length === 0) return new Map();
		const rows = this.run(
			'read kept files',
			() =>
				this.stmt(
					`SELECT record_id, ${RECORD_FILE_COLUMNS} FROM ${RECORD_FILES_TABLE}
					 WHERE job = ? AND record_id IN (SELECT value FROM json_each(?))`,
				).all(job, JSON.stringify(recordIds)) as unknown as RecordFileDbRow[],
		);
		return toRecordFiles(rows);
	}

	async fileBytes(sha256: string): Promise<Buffer | undefined> {
		await this.init();
		const row = this.run(
			'read a kept file',
			() =>
				this.stmt(`SELECT data FROM ${FILES_TABLE} WHERE sha256 = ?`).get(sha256) as
					| { data: Uint8Array }
					| undefined,
		);
		return row ? Buffer.from(row.data.buffer, row.data.byteOffset, row.data.byteLength) : undefined;
	}

	async updateBatch(job: string, batchId: string, p: BatchRowPatch, at: string): Promise<void> {
		await this.init();
		this.run('update the batch', () =>
			this.stmt(
				`UPDATE ${BATCHES_TABLE} SET state = coalesce(?, state), provider_status = coalesce(?, provider_status),
				 counts = coalesce(?, counts), ended_at = coalesce(?, ended_at), collected_at = coalesce(?, collected_at),
				 updated_at = ? WHERE job = ? AND batch_id = ?`,
			).run(
				p.state ?? null,
				p.providerStatus ?? null,
				p.counts ? JSON.stringify(p.counts) : null,
				p.endedAt ?? null,
				p.collectedAt ?? null,
				at,
				job,
				batchId,
			),
		);
	}

	async batches(job: string, options: { uncollected?: boolean } = {}): Promise<BatchRow[]> {
		await this.init();
		const rows = this.run(
			'list batches',
			() =>
				this.stmt(
					`SELECT * FROM ${BATCHES_TABLE} WHERE job = ? ${options.uncollected ? 'AND collected_at IS NULL' : ''}
					 ORDER BY created_at, batch_id`,
				).all(job) as unknown as BatchDbRow[],
		);
		return rows.map(toBatchRow);
	}

	async entries(job: string, recordIds: readonly string[]): Promise<Map<string, BatchEntry>> {
		await this.init();
		const out = new Map<string, BatchEntry>();
		if (recordIds.length === 0) return out;
		const rows = this.run(
			'read batch entries',
			() =>
				this.stmt(
					`SELECT ${ENTRY_COLUMNS} FROM ${ENTRY_FROM} WHERE e.job = ? AND e.record_id IN (SELECT value FROM json_each(?))`,
				).all(job, JSON.stringify(recordIds)) as unknown as EntryDbRow[],
		);
		for (const r of rows) out.set(r.record_id, toEntry(r));
		return out;
	}

	async batchEntries(job: string, batchId: string): Promise<BatchEntry[]> {
		await this.init();
		const rows = this.run(
			'read batch entries',
			() =>
				this.stmt(
					`SELECT ${ENTRY_COLUMNS} FROM ${ENTRY_FROM} WHERE e.job = ? AND e.batch_id = ? ORDER BY e.item_index, e.record_id`,
				).all(job, batchId) as unknown as EntryDbRow[],
		);
		return rows.map((r) => toEntry(r));
	}

	async entriesByCustomId(
		job: string,
		batchId: string,
		customIds: readonly string[],
	): Promise<Map<string, AnswerEntry>> {
		await this.init();
		const out = new Map<string, AnswerEntry>();
		if (customIds.length === 0) return out;
		// The columns an entry needs, not the job and batch it was asked by: a Collect reads every
		// entry of the job this way, and each column is a string per row. From the request only
		// what reading the answer needs (`->` keeps the schema as JSON text).
		const rows = this.run(
			'read batch entries',
			() =>
				this.stmt(
					`SELECT record_id, custom_id, prompt_hash, item, item_index, round, emitted, submitted_at,
					   request ->> '$.model' AS model, request ->> '$.maxTokens' AS max_tokens, request -> '$.schema' AS schema
					 FROM (SELECT ${ENTRY_COLUMNS} FROM ${ENTRY_FROM}
					   WHERE e.job = ? AND e.batch_id = ? AND e.custom_id IN (SELECT value FROM json_each(?)))`,
				).all(job, batchId, JSON.stringify(customIds)) as unknown as AnswerEntryDbRow[],
		);
		for (const r of rows) out.set(r.custom_id, toAnswerEntry(r, batchId));
		return out;
	}

	async unemittedEntries(job: string, batchId: string, limit: number): Promise<BatchEntry[]> {
		await this.init();
		const rows = this.run(
			'read batch entries',
			() =>
				this.stmt(
					`SELECT ${ENTRY_COLUMNS} FROM ${ENTRY_FROM} WHERE e.job = ? AND e.batch_id = ? AND e.emitted = 0 LIMIT ?`,
				).all(job, batchId, limit) as unknown as EntryDbRow[],
		);
		return rows.map((r) => toEntry(r));
	}

	async listEntries(job: string, afterRecordId: string, limit: number): Promise<BatchEntry[]> {
		await this.init();
		const rows = this.run(
			'list batch entries',
			() =>
				this.stmt(
					`SELECT ${ENTRY_COLUMNS} FROM ${ENTRY_FROM} WHERE e.job = ? AND e.record_id > ? ORDER BY e.record_id LIMIT ?`,
				).all(job, afterRecordId, limit) as unknown as EntryDbRow[],
		);
		return rows.map((r) => toEntry(r));
	}

	async markEmitted(job: string, recordIds: readonly string[]): Promise<void> {
		await this.init();
		if (recordIds.length === 0) return;
		this.run(
			'mark records emitted',
			() =>
				this.stmt(
					`UPDATE ${ENTRIES_TABLE} SET emitted = 1 WHERE job = ? AND record_id IN (SELECT value FROM json_each(?))`,
				).run(job, JSON.stringify(recordIds)),
			true,
		);
	}

	async takeCollectLease(
		job: string,
		batchId: string,
		lease: { owner: string; until: string; previous: string | null },
	): Promise<boolean> {
		await this.init();
		return this.run(
			'take the collect lease',
			() => {
				const taken = this.stmt(
					`UPDATE ${BATCHES_TABLE} SET collect_owner = ?, collect_until = ?
					 WHERE job = ? AND batch_id = ? AND collected_at IS NULL AND collect_owner IS ?`,
				).run(lease.owner, lease.until, job, batchId, lease.previous);
				if (Number(taken.changes) !== 1) return false;
				if (lease.previous !== null)
					this.stmt(
						`UPDATE ${ENTRIES_TABLE} SET emitted = ${EMITTED.no} WHERE job = ? AND batch_id = ? AND emitted = ${EMITTED.publishing}`,
					).run(job, batchId);
				return true;
			},
			true,
		);
	}

	async renewCollectLeases(job: string, owner: string, until: string): Promise<number> {
		await this.init();
		return this.run('renew the collect lease', () =>
			Number(
				this.stmt(
					`UPDATE ${BATCHES_TABLE} SET collect_until = ? WHERE job = ? AND collect_owner = ?`,
				).run(until, job, owner).changes,
			),
		);
	}

	async markPublishing(job: string, recordIds: readonly string[]): Promise<void> {
		await this.init();
		if (recordIds.length === 0) return;
		this.run('mark records published', () =>
			this.stmt(
				`UPDATE ${ENTRIES_TABLE} SET emitted = ${EMITTED.publishing} WHERE job = ? AND record_id IN (SELECT value FROM json_each(?))`,
			).run(job, JSON.stringify(recordIds)),
		);
	}

	async finishCollect(
		job: string,
		o: { owner: string; held: number; collected: readonly string[]; at: string },
	): Promise<boolean> {
		await this.init();
		return this.run(
			'finish the collect',
			() => {
				const mine = this.stmt(
					`SELECT count(*) AS n FROM ${BATCHES_TABLE} WHERE job = ? AND collect_owner = ?`,
				).get(job, o.owner) as { n: number };
				if (Number(mine.n) !== o.held) return false;
				this.stmt(
					`UPDATE ${ENTRIES_TABLE} SET emitted = ${EMITTED.yes} WHERE job = ? AND emitted = ${EMITTED.publishing}
					 AND batch_id IN (SELECT batch_id FROM ${BATCHES_TABLE} WHERE job = ? AND collect_owner = ?)`,
				).run(job, job, o.owner);
				this.stmt(
					`UPDATE ${BATCHES_TABLE} SET collected_at = ?, updated_at = ?
					 WHERE job = ? AND collect_owner = ? AND batch_id IN (SELECT value FROM json_each(?))`,
				).run(o.at, o.at, job, o.owner, JSON.stringify(o.collected));
				this.stmt(
					`UPDATE ${BATCHES_TABLE} SET collect_owner = NULL, collect_until = NULL WHERE job = ? AND collect_owner = ?`,
				).run(job, o.owner);
				return true;
			},
			true,
		);
	}

	async releaseCollect(job: string, owner: string): Promise<void> {
		await this.init();
		this.run(
			'release the collect lease',
			() => {
				this.stmt(
					`UPDATE ${ENTRIES_TABLE} SET emitted = ${EMITTED.no} WHERE job = ? AND emitted = ${EMITTED.publishing}
					 AND batch_id IN (SELECT batch_id FROM ${BATCHES_TABLE} WHERE job = ? AND collect_owner = ?)`,
				).run(job, job, owner);
				this.stmt(
					`UPDATE ${BATCHES_TABLE} SET collect_owner = NULL, collect_until = NULL WHERE job = ? AND collect_owner = ?`,
				).run(job, owner);
			},
			true,
		);
	}

	async jobNames(limit: number): Promise<string[]> {
		await this.init();
		const rows = this.run(
			'list jobs',
			() =>
				this.stmt(
					`SELECT job FROM ${BATCHES_TABLE} UNION SELECT job FROM ${ENTRIES_TABLE} ORDER BY job LIMIT ?`,
				).all(limit) as unknown as Array<{ job: string }>,
		);
		return rows.map((r) => r.job);
	}

	async addPending(job: string, pendingId: string, entries: readonly BatchEntry[]): Promise<void> {
		await this.init();
		this.run(
			'record the submission',
			() => {
				const put = this.stmt(
					`INSERT INTO ${ENTRIES_TABLE} (job, record_id, custom_id, batch_id, prompt_hash, request, item, item_index, round, emitted, submitted_at)
					 VALUES (?, ?, ?, ?, ?, '', '', ?, ?, 0, ?)
					 ON CONFLICT (job, record_id) DO UPDATE SET custom_id = excluded.custom_id, batch_id = excluded.batch_id,
					 prompt_hash = excluded.prompt_hash, request = '', item = '',
					 item_index = excluded.item_index, round = excluded.round, emitted = 0,
					 submitted_at = excluded.submitted_at`,
				);
				for (const e of entries) {
					put.run(
						job,
						e.recordId,
						e.customId,
						pendingId,
						e.promptHash,
						e.itemIndex,
						e.round,
						e.submittedAt,
					);
				}
				this.putPayloads(job, entries);
			},
			true,
		);
	}

	async pending(
		job: string,
	): Promise<Array<{ pendingId: string; count: number; requests: number; submittedAt: string }>> {
		await this.init();
		const rows = this.run(
			'list submissions',
			() =>
				this.stmt(
					`SELECT batch_id, count(*) AS n, ${REQUESTS_OF_ENTRIES} AS r, min(submitted_at) AS at FROM ${ENTRIES_TABLE}
					 WHERE job = ? AND batch_id >= 'pending:' AND batch_id < 'pending;' GROUP BY batch_id`,
				).all(job) as unknown as Array<{ batch_id: string; n: number; r: number; at: string }>,
		);
		return rows.map(toPendingSubmission);
	}

	async adoptPending(
		job: string,
		pendingId: string,
		b: BatchRow,
		options: { provisional?: boolean } = {},
	): Promise<void> {
		await this.init();
		this.run(
			'record the batch',
			() => {
				this.stmt(
					`INSERT INTO ${BATCHES_TABLE} (${BATCH_INSERT_COLUMNS})
					 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (job, batch_id) DO NOTHING`,
				).run(...batchRowValues(b));
				this.stmt(`UPDATE ${ENTRIES_TABLE} SET batch_id = ? WHERE job = ? AND batch_id = ?`).run(
					b.batchId,
					job,
					pendingId,
				);
				if (options.provisional)
					this.stmt(
						`INSERT INTO ${ADOPTIONS_TABLE} (job, batch_id, pending_id) VALUES (?, ?, ?)
						 ON CONFLICT (job, batch_id) DO NOTHING`,
					).run(job, b.batchId, pendingId);
			},
			true,
		);
	}

	async provisional(job: string): Promise<string[]> {
		await this.init();
		const rows = this.run(
			'list adoptions',
			() =>
				this.stmt(`SELECT batch_id FROM ${ADOPTIONS_TABLE} WHERE job = ? ORDER BY batch_id`).all(
					job,
				) as unknown as Array<{ batch_id: string }>,
		);
		return rows.map((r) => r.batch_id);
	}

	async confirmAdoption(job: string, batchId: string): Promise<void> {
		await this.init();
		this.run('confirm the batch', () =>
			this.stmt(`DELETE FROM ${ADOPTIONS_TABLE} WHERE job = ? AND batch_id = ?`).run(job, batchId),
		);
	}

	async unadopt(job: string, batchId: string): Promise<void> {
		await this.init();
		this.run(
			'drop the batch',
			() => {
				const row = this.stmt(
					`SELECT pending_id FROM ${ADOPTIONS_TABLE} WHERE job = ? AND batch_id = ?`,
				).get(job, batchId) as { pending_id: string } | undefined;
				if (!row) return;
				this.stmt(`DELETE FROM ${ADOPTIONS_TABLE} WHERE job = ? AND batch_id = ?`).run(
					job,
					batchId,
				);
				this.stmt(`DELETE FROM ${BATCHES_TABLE} WHERE job = ? AND batch_id = ?`).run(job, batchId);
				this.stmt(
					`UPDATE ${ENTRIES_TABLE} SET batch_id = ?, emitted = 1 WHERE job = ? AND batch_id = ?`,
				).run(`abandoned:${row.pending_id.slice('pending:'.length)}`, job, batchId);
			},
			true,
		);
	}

	async ownedBatchIds(batchIds: readonly string[]): Promise<Set<string>> {
		await this.init();
		if (batchIds.length === 0) return new Set();
		const rows = this.run(
			'read batches',
			() =>
				this.stmt(
					`SELECT DISTINCT batch_id FROM ${BATCHES_TABLE} WHERE batch_id IN (SELECT value FROM json_each(?))`,
				).all(JSON.stringify(batchIds)) as unknown as Array<{ batch_id: string }>,
		);
		return new Set(rows.map((r) => r.batch_id));
	}

	async abandonPending(job: string, pendingId: string): Promise<void> {
		await this.init();
		this.run(
			'drop the submission',
			() =>
				this.stmt(
					`UPDATE ${ENTRIES_TABLE} SET batch_id = ?, emitted = 1 WHERE job = ? AND batch_id = ?`,
				).run(`abandoned:${pendingId.slice('pending:'.length)}`, job, pendingId),
			true,
		);
	}

	async deleteJob(job: string): Promise<{ batches: number; files: number }> {
		await this.init();
		return this.run(
			'delete the job',
			() => {
				this.stmt(`DELETE FROM ${ENTRIES_TABLE} WHERE job = ?`).run(job);
				this.stmt(`DELETE FROM ${PAYLOADS_TABLE} WHERE job = ?`).run(job);
				this.stmt(`DELETE FROM ${ADOPTIONS_TABLE} WHERE job = ?`).run(job);
				this.stmt(`DELETE FROM ${RECORD_FILES_TABLE} WHERE job = ?`).run(job);
				const files = Number(this.stmt(UNREFERENCED_FILES).run().changes);
				const batches = Number(
					this.stmt(`DELETE FROM ${BATCHES_TABLE} WHERE job = ?`).run(job).changes,
				);
				return { batches, files };
			},
			true,
		);
	}
}
