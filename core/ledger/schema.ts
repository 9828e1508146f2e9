/**
 * The record tables' DDL, one text for both dialects: each store passes its own column types
 * (SQLite keeps JSON and times as text; PostgreSQL as JSONB and TIMESTAMPTZ, record IDs compared
 * bytewise as in SQLite).
 */
import {
	CACHE_TABLE,
	HEARTBEATS_TABLE,
	PAID_COLUMNS,
	PRIOR_COLUMNS,
	RECORDS_TABLE,
	SAMPLES_TABLE,
	SPEND_TABLE,
	UNPAID_INDEX,
	UNPAID_ROWS,
} from './sql';

export interface ColumnTypes {
	/** A record ID. */
	key: string;
	json: string;
	time: string;
	real: string;
	/** A token count. */
	count: string;
	/**
	 * A cost or token count copied from a record's JSON, summed as the JSON's own numbers were
	 * before it was kept apart (PostgreSQL: exact decimals; SQLite: its doubles).
	 */
	amount: string;
}

export const SQLITE_TYPES: ColumnTypes = {
	key: 'TEXT',
	json: 'TEXT',
	time: 'TEXT',
	real: 'REAL',
	count: 'INTEGER',
	amount: 'REAL',
};

export const POSTGRES_TYPES: ColumnTypes = {
	key: 'TEXT COLLATE "C"',
	json: 'JSONB',
	time: 'TIMESTAMPTZ',
	real: 'DOUBLE PRECISION',
	count: 'BIGINT',
	amount: 'NUMERIC',
};

/**
 * The record, cache and spend tables as first released (the records' indexes apart:
 * recordIndexes). The records are a rowid table in
 * SQLite, not WITHOUT ROWID: rows carry a result of ~0.5-5 KB, and SQLite advises WITHOUT ROWID
 * only for small rows.
 */
export function recordsSchema(t: ColumnTypes): string {
	return `
CREATE TABLE IF NOT EXISTS ${RECORDS_TABLE} (
	job TEXT NOT NULL,
	record_id ${t.key} NOT NULL,
	status TEXT NOT NULL,
	attempts INTEGER NOT NULL DEFAULT 0,
	prompt_hash TEXT NOT NULL DEFAULT '',
	last_error ${t.json},
	result ${t.json},
	created_at ${t.time} NOT NULL,
	updated_at ${t.time} NOT NULL,
	PRIMARY KEY (job, record_id)
);
CREATE TABLE IF NOT EXISTS ${CACHE_TABLE} (
	prompt_hash TEXT PRIMARY KEY,
	job TEXT NOT NULL,
	result ${t.json} NOT NULL,
	created_at ${t.time} NOT NULL
);
CREATE INDEX IF NOT EXISTS ${CACHE_TABLE}_job ON ${CACHE_TABLE} (job);
CREATE TABLE IF NOT EXISTS ${SPEND_TABLE} (
	job TEXT NOT NULL,
	spend_ticket TEXT NOT NULL,
	spend_owner TEXT NOT NULL,
	spend_state TEXT NOT NULL,
	spend_usd ${t.real} NOT NULL,
	reserved_until ${t.time},
	stored_usd ${t.real} NOT NULL DEFAULT 0,
	stored_at ${t.time},
	PRIMARY KEY (job, spend_ticket)
);
`;
}

/** Record columns added after the first release, with their definitions: older ledgers get them on open. */
export function addedRecordColumns(t: ColumnTypes): Array<{ name: string; definition: string }> {
	const [cost, input, output] = PRIOR_COLUMNS;
	return [
		{ name: 'lease_owner', definition: 'TEXT' },
		{ name: 'lease_until', definition: t.time },
		{ name: cost, definition: `${t.real} NOT NULL DEFAULT 0` },
		{ name: input, definition: `${t.count} NOT NULL DEFAULT 0` },
		{ name: output, definition: `${t.count} NOT NULL DEFAULT 0` },
		// NULL on the rows an older ledger holds: the totals read those from the JSON.
		...PAID_COLUMNS.map((name) => ({ name, definition: t.amount })),
	];
}

/**
 * The record indexes, after the added columns. `_totals` leads with (job, status, updated_at)
 * for the lists by status and stale claims, and carries every column the job totals read
 * (core/ledger/sql.ts jobTotalsSql), so counts and sums come from the index alone instead of
 * from rows that each hold a result of ~0.5-5 KB; it replaces the first releases' `_status`
 * (same keys, nothing carried). `_unpaid` holds only the rows written before the paid columns.
 */
export function recordIndexes(dialect: 'sqlite' | 'postgres'): string {
	const carried = ['created_at', 'attempts', ...PAID_COLUMNS, ...PRIOR_COLUMNS].join(', ');
	const totals =
		dialect === 'postgres'
			? `(job, status, updated_at) INCLUDE (${carried})` // PostgreSQL 11+
			: `(job, status, updated_at, ${carried})`;
	return `
CREATE INDEX IF NOT EXISTS ${RECORDS_TABLE}_totals ON ${RECORDS_TABLE} ${totals};
CREATE INDEX IF NOT EXISTS ${UNPAID_INDEX} ON ${RECORDS_TABLE} (job) WHERE ${UNPAID_ROWS};
DROP INDEX IF EXISTS ${RECORDS_TABLE}_status;
`;
}

/**
 * The heartbeat tables (core/ledger/heartbeat): one row per (job, run of a node) updated in
 * place, and the samples of the job's charts, keyed by time and run.
 */
export function heartbeatSchema(t: ColumnTypes): string {
	return `
CREATE TABLE IF NOT EXISTS ${HEARTBEATS_TABLE} (
	job TEXT NOT NULL,
	run TEXT NOT NULL,
	execution TEXT NOT NULL,
	worker TEXT NOT NULL,
	node TEXT NOT NULL,
	state TEXT NOT NULL,
	started_at ${t.time} NOT NULL,
	beat_at ${t.time} NOT NULL,
	last_progress_at ${t.time},
	interval_ms INTEGER NOT NULL,
	total INTEGER NOT NULL,
	reused INTEGER NOT NULL,
	done INTEGER NOT NULL,
	succeeded INTEGER NOT NULL,
	failed INTEGER NOT NULL,
	failed_by_code ${t.json} NOT NULL,
	retries INTEGER NOT NULL,
	input_tokens ${t.count} NOT NULL,
	output_tokens ${t.count} NOT NULL,
	cost_usd ${t.real} NOT NULL,
	recent_latencies ${t.json} NOT NULL,
	PRIMARY KEY (job, run)
);
CREATE TABLE IF NOT EXISTS ${SAMPLES_TABLE} (
	job TEXT NOT NULL,
	at ${t.time} NOT NULL,
	run TEXT NOT NULL,
	done INTEGER NOT NULL,
	succeeded INTEGER NOT NULL,
	failed INTEGER NOT NULL,
	failed_by_code ${t.json} NOT NULL,
	cost_usd ${t.real} NOT NULL,
	PRIMARY KEY (job, at, run)
);
`;
}
