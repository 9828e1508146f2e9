/** The batch-job tables in the PostgreSQL ledger, on the records store's pool. */
import type { PoolClient, QueryResultRow } from 'pg';

import type { AnswerEntry, BatchEntry, BatchJobStore, BatchRow, BatchRowPatch } from './batches';
import type { KeptFileMeta } from '../files';
import {
	FILES_TABLE,
	RECORD_FILE_COLUMNS,
	RECORD_FILES_TABLE,
	UNREFERENCED_FILES,
	keptFilesSchema,
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
	toAnswerEntry,
	toBatchRow,
	toEntry,
	toPendingSubmission,
	type AnswerEntryDbRow,
} from './rows';
import type { PostgresConnections } from '../../ledger/postgres-connections';
import { PostgresTables } from '../../ledger/postgres-tables';

const SCHEMA = [
	batchJobSchema('TEXT COLLATE "C"'),
	keptFilesSchema('TEXT COLLATE "C"', 'BYTEA'),
	// A ledger written before collect leases gets their columns now.
	...COLLECT_LEASE_COLUMNS.map(
		(column) => `ALTER TABLE ${BATCHES_TABLE} ADD COLUMN IF NOT EXISTS ${column} TEXT;`,
	),
].join('\n');

/** The entries' items and requests, one row per record, in the caller's transaction. */
async function putPayloads(
	c: PoolClient,
	job: string,
	entries: readonly BatchEntry[],
): Promise<void> {
	if (entries.length === 0) return;
	await c.query(
		`INSERT INTO ${PAYLOADS_TABLE} (job, record_id, request, item)
		 SELECT $1, p.record_id, p.request, p.item
		 FROM jsonb_to_recordset($2::jsonb) AS p(record_id text, request text, item text)
		 ON CONFLICT (job, record_id) DO UPDATE SET request = excluded.request, item = excluded.item`,
		[
			job,
			JSON.stringify(
				entries.map((e) => ({ record_id: e.recordId, request: e.request, item: e.item })),
			),
		],
	);
}

/** Serialises concurrent creation of these tables. */
const SCHEMA_LOCK_KEY = 740_305_119;

/**
 * Writers of file references share it; Delete Job's sweep of unreferenced files takes it
 * alone: a file it deletes is never one a concurrent Submit refers to without storing it.
 * Taken first in a transaction (before any row lock), so the two never wait on each other.
 * Its own key: 740_305_118 to 120 are the ledger's, the batch tables' and the heartbeats' schema locks.
 */
const FILES_LOCK_KEY = 740_305_150;

const hasFiles = (entries: readonly BatchEntry[]) => entries.some((e) => e.files !== undefined);

/**
 * The entries' kept files, in the caller's transaction (which took FILES_LOCK_KEY shared):
 * each record's rows replaced, and the bytes of the files not stored yet (each once).
 */
async function putFiles(c: PoolClient, job: string, entries: readonly BatchEntry[]): Promise<void> {
	const withFiles = entries.filter((e) => e.files !== undefined);
	if (withFiles.length === 0) return;
	await c.query(
		`DELETE FROM ${RECORD_FILES_TABLE} WHERE job = $1 AND record_id = ANY($2::text[])`,
		[job, withFiles.map((e) => e.recordId)],
	);
	const rows = withFiles.flatMap((e) =>
		(e.files ?? []).map((f, position) => ({
			record_id: e.recordId,
			property: f.property,
			ord: position,
			sha256: f.sha256 ?? null,
			file_name: f.fileName ?? null,
			mime_type: f.mimeType,
			file_extension: f.fileExtension ?? null,
			file_size: f.fileSize ?? null,
			not_kept: f.notKept ?? null,
		})),
	);
	if (rows.length === 0) return;
	await c.query(
		`INSERT INTO ${RECORD_FILES_TABLE} (job, record_id, ${RECORD_FILE_COLUMNS})
		 SELECT $1, r.record_id, ${RECORD_FILE_COLUMNS}
		 FROM jsonb_to_recordset($2::jsonb) AS r(record_id text, property text, ord int, sha256 text,
		   file_name text, mime_type text, file_extension text, file_size text, not_kept text)`,
		[job, JSON.stringify(rows)],
	);
	const bytes = new Map<string, Buffer>();
	for (const e of withFiles)
		for (const f of e.files ?? [])
			if (f.sha256 !== undefined && f.bytes) bytes.set(f.sha256, f.bytes);
	if (bytes.size === 0) return;
	// Only the files not stored yet travel to the database.
	const { rows: stored } = await c.query<{ sha256: string }>(
		`SELECT sha256 FROM ${FILES_TABLE} WHERE sha256 = ANY($1::text[])`,
		[[...bytes.keys()]],
	);
	for (const s of stored) bytes.delete(s.sha256);
	for (const [sha256, data] of bytes)
		await c.query(
			`INSERT INTO ${FILES_TABLE} (sha256, size, data) VALUES ($1, $2, $3) ON CONFLICT (sha256) DO NOTHING`,
			[sha256, data.length, data],
		);
}

export class PostgresBatchStore extends PostgresTables implements BatchJobStore {
	constructor(db: PostgresConnections) {
		super(db, SCHEMA, SCHEMA_LOCK_KEY);
	}

	private async q<T extends QueryResultRow>(
		action: string,
		sql: string,
		params: unknown[],
	): Promise<T[]> {
		await this.init();
		return (await this.db.query<T>(action, sql, params)).rows;
	}

	async addBatch(b: BatchRow, entries: readonly BatchEntry[]): Promise<void> {
		await this.init();
		await this.tx('record the batch', async (c) => {
			if (hasFiles(entries))
				await c.query('SELECT pg_advisory_xact_lock_shared($1)', [FILES_LOCK_KEY]);
			await c.query(
				`INSERT INTO ${BATCHES_TABLE} (${BATCH_INSERT_COLUMNS})
				 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
				batchRowValues(b),
			);
			if (entries.length === 0) return;
			// One JSON document for all entries: one statement whatever the batch size.
			await c.query(
				`INSERT INTO ${ENTRIES_TABLE} (job, record_id, custom_id, batch_id, prompt_hash, request, item, item_index, round, emitted, submitted_at)
				 SELECT $1, e.record_id, e.custom_id, e.batch_id, e.prompt_hash, '', '', e.item_index, e.round, e.emitted, e.submitted_at
				 FROM jsonb_to_recordset($2::jsonb) AS e(record_id text, custom_id text, batch_id text, prompt_hash text,
				   item_index int, round int, emitted int, submitted_at text)
				 ON CONFLICT (job, record_id) DO UPDATE SET custom_id = excluded.custom_id, batch_id = excluded.batch_id,
				 prompt_hash = excluded.prompt_hash, request = '', item = '',
				 item_index = excluded.item_index, round = excluded.round, emitted = excluded.emitted,
				 submitted_at = excluded.submitted_at`,
				[
					b.job,
					JSON.stringify(
						entries.map((e) => ({
							record_id: e.recordId,
							custom_id: e.customId,
							batch_id: e.batchId,
							prompt_hash: e.promptHash,
							item_index: e.itemIndex,
							round: e.round,
							emitted: e.emitted ? 1 : 0,
							submitted_at: e.submittedAt,
						})),
					),
				],
			);
			await putPayloads(c, b.job, entries);
			await putFiles(c, b.job, entries);
		});
	}

	async updateBatch(job: string, batchId: string, p: BatchRowPatch, at: string): Promise<void> {
		await this.q(
			'update the batch',
			`UPDATE ${BATCHES_TABLE} SET state = coalesce($1, state), provider_status = coalesce($2, provider_status),
			 counts = coalesce($3, counts), ended_at = coalesce($4, ended_at), collected_at = coalesce($5, collected_at),
			 updated_at = $6 WHERE job = $7 AND batch_id = $8`,
			[
				p.state ?? null,
				p.providerStatus ?? null,
				p.counts ? JSON.stringify(p.counts) : null,
				p.endedAt ?? null,
				p.collectedAt ?? null,
				at,
				job,
				batchId,
			],
		);
	}

	async batches(job: string, options: { uncollected?: boolean } = {}): Promise<BatchRow[]> {
		const rows = await this.q<Parameters<typeof toBatchRow>[0]>(
			'list batches',
			`SELECT * FROM ${BATCHES_TABLE} WHERE job = $1 ${options.uncollected ? 'AND collected_at IS NULL' : ''}
			 ORDER BY created_at, batch_id`,
			[job],
		);
		return rows.map(toBatchRow);
	}

	async entries(job: string, recordIds: readonly string[]): Promise<Map<string, BatchEntry>> {
		const out = new Map<string, BatchEntry>();
		if (recordIds.length === 0) return out;
		const rows = await this.q<Parameters<typeof toEntry>[0]>(
			'read batch entries',
			`SELECT ${ENTRY_COLUMNS} FROM ${ENTRY_FROM} WHERE e.job = $1 AND e.record_id = ANY($2::text[])`,
			[job, recordIds],
		);
		for (const r of rows) out.set(r.record_id, toEntry(r));
		return out;
	}

	async batchEntries(job: string, batchId: string): Promise<BatchEntry[]> {
		const rows = await this.q<Parameters<typeof toEntry>[0]>(
			'read batch entries',
			`SELECT ${ENTRY_COLUMNS} FROM ${ENTRY_FROM} WHERE e.job = $1 AND e.batch_id = $2 ORDER BY e.item_index, e.record_id`,
			[job, batchId],
		);
		return rows.map((r) => toEntry(r));
	}

	async entriesByCustomId(
		job: string,
		batchId: string,
		customIds: readonly string[],
	): Promise<Map<string, AnswerEntry>> {
		const out = new Map<string, AnswerEntry>();
		if (customIds.length === 0) return out;
		// From the request only what reading the answer needs (the json type keeps the text).
		const rows = await this.q<AnswerEntryDbRow>(
			'read batch entries',
			`SELECT record_id, custom_id, prompt_hash, item, item_index, round, emitted, submitted_at,
			   request::json ->> 'model' AS model, request::json ->> 'maxTokens' AS max_tokens,
			   (request::json -> 'schema')::text AS schema
			 FROM (SELECT ${ENTRY_COLUMNS} FROM ${ENTRY_FROM}
			   WHERE e.job = $1 AND e.batch_id = $2 AND e.custom_id = ANY($3::text[])) AS joined`,
			[job, batchId, customIds],
		);
		for (const r of rows) out.set(r.custom_id, toAnswerEntry(r, batchId));
		return out;
	}

	async unemittedEntries(job: string, batchId: string, limit: number): Promise<BatchEntry[]> {
		const rows = await this.q<Parameters<typeof toEntry>[0]>(
			'read batch entries',
			`SELECT ${ENTRY_COLUMNS} FROM ${ENTRY_FROM} WHERE e.job = $1 AND e.batch_id = $2 AND e.emitted = 0 LIMIT $3`,
			[job, batchId, limit],
		);
		return rows.map((r) => toEntry(r));
	}

	async listEntries(job: string, afterRecordId: string, limit: number): Promise<BatchEntry[]> {
		const rows = await this.q<Parameters<typeof toEntry>[0]>(
			'list batch entries',
			`SELECT ${ENTRY_COLUMNS} FROM ${ENTRY_FROM} WHERE e.job = $1 AND e.record_id > $2 ORDER BY e.record_id LIMIT $3`,
			[job, afterRecordId, limit],
		);
		return rows.map((r) => toEntry(r));
	}

	async markEmitted(job: string, recordIds: readonly string[]): Promise<void> {
		if (recordIds.length === 0) return;
		await this.q(
			'mark records emitted',
			`UPDATE ${ENTRIES_TABLE} SET emitted = 1 WHERE job = $1 AND record_id = ANY($2::text[])`,
			[job, recordIds],
		);
	}

	async takeCollectLease(
		job: string,
		batchId: string,
		lease: { owner: string; until: string; previous: string | null },
	): Promise<boolean> {
		await this.init();
		return await this.tx('take the collect lease', async (c) => {
			const taken = await c.query(
				`UPDATE ${BATCHES_TABLE} SET collect_owner = $1, collect_until = $2
				 WHERE job = $3 AND batch_id = $4 AND collected_at IS NULL AND collect_owner IS NOT DISTINCT FROM $5`,
				[lease.owner, lease.until, job, batchId, lease.previous],
			);
			if (taken.rowCount !== 1) return false;
			if (lease.previous !== null)
				await c.query(
					`UPDATE ${ENTRIES_TABLE} SET emitted = ${EMITTED.no} WHERE job = $1 AND batch_id = $2 AND emitted = ${EMITTED.publishing}`,
					[job, batchId],
				);
			return true;
		});
	}

	async renewCollectLeases(job: string, owner: string, until: string): Promise<number> {
		await this.init();
		const r = await this.db.query(
			'renew the collect lease',
			`UPDATE ${BATCHES_TABLE} SET collect_until = $1 WHERE job = $2 AND collect_owner = $3`,
			[until, job, owner],
		);
		return r.rowCount ?? 0;
	}

	async markPublishing(job: string, recordIds: readonly string[]): Promise<void> {
		if (recordIds.length === 0) return;
		await this.q(
			'mark records published',
			`UPDATE ${ENTRIES_TABLE} SET emitted = ${EMITTED.publishing} WHERE job = $1 AND record_id = ANY($2::text[])`,
			[job, recordIds],
		);
	}

	async finishCollect(
		job: string,
		o: { owner: string; held: number; collected: readonly string[]; at: string },
	): Promise<boolean> {
		await this.init();
		return await this.tx('finish the collect', async (c) => {
			// Locks the holder's batch rows: a takeover waits until this commits.
			const mine = await c.query(
				`SELECT batch_id FROM ${BATCHES_TABLE} WHERE job = $1 AND collect_owner = $2 FOR UPDATE`,
				[job, o.owner],
			);
			if (mine.rowCount !== o.held) return false;
			await c.query(
				`UPDATE ${ENTRIES_TABLE} SET emitted = ${EMITTED.yes} WHERE job = $1 AND emitted = ${EMITTED.publishing}
				 AND batch_id IN (SELECT batch_id FROM ${BATCHES_TABLE} WHERE job = $1 AND collect_owner = $2)`,
				[job, o.owner],
			);
			await c.query(
				`UPDATE ${BATCHES_TABLE} SET collected_at = $3, updated_at = $3
				 WHERE job = $1 AND collect_owner = $2 AND batch_id = ANY($4::text[])`,
				[job, o.owner, o.at, o.collected],
			);
			await c.query(
				`UPDATE ${BATCHES_TABLE} SET collect_owner = NULL, collect_until = NULL WHERE job = $1 AND collect_owner = $2`,
				[job, o.owner],
			);
			return true;
		});
	}

	async releaseCollect(job: string, owner: string): Promise<void> {
		await this.init();
		await this.tx('release the collect lease', async (c) => {
			await c.query(
				`UPDATE ${ENTRIES_TABLE} SET emitted = ${EMITTED.no} WHERE job = $1 AND emitted = ${EMITTED.publishing}
				 AND batch_id IN (SELECT batch_id FROM ${BATCHES_TABLE} WHERE job = $1 AND collect_owner = $2)`,
				[job, owner],
			);
			await c.query(
				`UPDATE ${BATCHES_TABLE} SET collect_owner = NULL, collect_until = NULL WHERE job = $1 AND collect_owner = $2`,
				[job, owner],
			);
		});
	}

	async jobNames(limit: number): Promise<string[]> {
		const rows = await this.q<{ job: string }>(
			'list jobs',
			`SELECT job FROM ${BATCHES_TABLE} UNION SELECT job FROM ${ENTRIES_TABLE} ORDER BY job LIMIT $1`,
			[limit],
		);
		return rows.map((r) => r.job);
	}

	async addPending(job: string, pendingId: string, entries: readonly BatchEntry[]): Promise<void> {
		if (entries.length === 0) return;
		await this.init();
		await this.tx('record the submission', async (c) => {
			if (hasFiles(entries))
				await c.query('SELECT pg_advisory_xact_lock_shared($1)', [FILES_LOCK_KEY]);
			await c.query(
				`INSERT INTO ${ENTRIES_TABLE} (job, record_id, custom_id, batch_id, prompt_hash, request, item, item_index, round, emitted, submitted_at)
				 SELECT $1, e.record_id, e.custom_id, $2, e.prompt_hash, '', '', e.item_index, e.round, 0, e.submitted_at
				 FROM jsonb_to_recordset($3::jsonb) AS e(record_id text, custom_id text, prompt_hash text,
				   item_index int, round int, submitted_at text)
				 ON CONFLICT (job, record_id) DO UPDATE SET custom_id = excluded.custom_id, batch_id = excluded.batch_id,
				 prompt_hash = excluded.prompt_hash, request = '', item = '',
				 item_index = excluded.item_index, round = excluded.round, emitted = 0,
				 submitted_at = excluded.submitted_at`,
				[
					job,
					pendingId,
					JSON.stringify(
						entries.map((e) => ({
							record_id: e.recordId,
							custom_id: e.customId,
							prompt_hash: e.promptHash,
							item_index: e.itemIndex,
							round: e.round,
							submitted_at: e.submittedAt,
						})),
					),
				],
			);
			await putPayloads(c, job, entries);
			await putFiles(c, job, entries);
		});
	}

	async pending(
		job: string,
	): Promise<Array<{ pendingId: string; count: number; requests: number; submittedAt: string }>> {
		const rows = await this.q<{ batch_id: string; n: string; r: string; at: string }>(
			'list submissions',
			`SELECT batch_id, count(*) AS n, ${REQUESTS_OF_ENTRIES} AS r, min(submitted_at) AS at FROM ${ENTRIES_TABLE}
			 WHERE job = $1 AND batch_id LIKE 'pending:%' GROUP BY batch_id`,
			[job],
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
		await this.tx('record the batch', async (c) => {
			await c.query(
				`INSERT INTO ${BATCHES_TABLE} (${BATCH_INSERT_COLUMNS})
				 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) ON CONFLICT (job, batch_id) DO NOTHING`,
				batchRowValues(b),
			);
			await c.query(`UPDATE ${ENTRIES_TABLE} SET batch_id = $1 WHERE job = $2 AND batch_id = $3`, [
				b.batchId,
				job,
				pendingId,
			]);
			if (options.provisional)
				await c.query(
					`INSERT INTO ${ADOPTIONS_TABLE} (job, batch_id, pending_id) VALUES ($1, $2, $3)
					 ON CONFLICT (job, batch_id) DO NOTHING`,
					[job, b.batchId, pendingId],
				);
		});
	}

	async provisional(job: string): Promise<string[]> {
		const rows = await this.q<{ batch_id: string }>(
			'list adoptions',
			`SELECT batch_id FROM ${ADOPTIONS_TABLE} WHERE job = $1 ORDER BY batch_id`,
			[job],
		);
		return rows.map((r) => r.batch_id);
	}

	async confirmAdoption(job: string, batchId: string): Promise<void> {
		await this.q(
			'confirm the batch',
			`DELETE FROM ${ADOPTIONS_TABLE} WHERE job = $1 AND batch_id = $2`,
			[job, batchId],
		);
	}

	async unadopt(job: string, batchId: string): Promise<void> {
		await this.init();
		await this.tx('drop the batch', async (c) => {
			const { rows } = await c.query<{ pending_id: string }>(
				`DELETE FROM ${ADOPTIONS_TABLE} WHERE job = $1 AND batch_id = $2 RETURNING pending_id`,
				[job, batchId],
			);
			if (rows.length === 0) return;
			await c.query(`DELETE FROM ${BATCHES_TABLE} WHERE job = $1 AND batch_id = $2`, [
				job,
				batchId,
			]);
			await c.query(
				`UPDATE ${ENTRIES_TABLE} SET batch_id = $1, emitted = 1 WHERE job = $2 AND batch_id = $3`,
				[`abandoned:${rows[0].pending_id.slice('pending:'.length)}`, job, batchId],
			);
		});
	}

	async ownedBatchIds(batchIds: readonly string[]): Promise<Set<string>> {
		if (batchIds.length === 0) return new Set();
		const rows = await this.q<{ batch_id: string }>(
			'read batches',
			`SELECT DISTINCT batch_id FROM ${BATCHES_TABLE} WHERE batch_id = ANY($1::text[])`,
			[batchIds],
		);
		return new Set(rows.map((r) => r.batch_id));
	}

	async abandonPending(job: string, pendingId: string): Promise<void> {
		await this.q(
			'drop the submission',
			`UPDATE ${ENTRIES_TABLE} SET batch_id = $1, emitted = 1 WHERE job = $2 AND batch_id = $3`,
			[`abandoned:${pendingId.slice('pending:'.length)}`, job, pendingId],
		);
	}

	async recordFiles(
		job: string,
		recordIds: readonly string[],
	): Promise<Map<string, KeptFileMeta[]>> {
		if (recordIds.length === 0) return new Map();
		const rows = await this.q<RecordFileDbRow>(
			'read kept files',
			`SELECT record_id, ${RECORD_FILE_COLUMNS} FROM ${RECORD_FILES_TABLE}
			 WHERE job = $1 AND record_id = ANY($2::text[])`,
			[job, recordIds],
		);
		return toRecordFiles(rows);
	}

	async fileBytes(sha256: string): Promise<Buffer | undefined> {
		const rows = await this.q<{ data: Buffer }>(
			'read a kept file',
			`SELECT data FROM ${FILES_TABLE} WHERE sha256 = $1`,
			[sha256],
		);
		return rows[0]?.data;
	}

	async deleteJob(job: string): Promise<{ batches: number; files: number }> {
		await this.init();
		return await this.tx('delete the job', async (c) => {
			await c.query('SELECT pg_advisory_xact_lock($1)', [FILES_LOCK_KEY]);
			await c.query(`DELETE FROM ${ENTRIES_TABLE} WHERE job = $1`, [job]);
			await c.query(`DELETE FROM ${PAYLOADS_TABLE} WHERE job = $1`, [job]);
			await c.query(`DELETE FROM ${ADOPTIONS_TABLE} WHERE job = $1`, [job]);
			await c.query(`DELETE FROM ${RECORD_FILES_TABLE} WHERE job = $1`, [job]);
			const files = (await c.query(UNREFERENCED_FILES)).rowCount ?? 0;
			const batches =
				(await c.query(`DELETE FROM ${BATCHES_TABLE} WHERE job = $1`, [job])).rowCount ?? 0;
			return { batches, files };
		});
	}
}
