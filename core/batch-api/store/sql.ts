/** Table names of the batch-job part of the ledger (LLM Batch Job). */
export const BATCHES_TABLE = 'llm_batch_ledger_batches';
export const ENTRIES_TABLE = 'llm_batch_ledger_batch_entries';
/**
 * What a submitted record needs to be emitted again and retried (its input item, its request),
 * one row per record, apart from its entry: the entry's small columns change as the batch is
 * created, collected and emitted, and a row of 200 KB rewritten at each step was most of a
 * large Submit's ledger writes. The entries' own request and item columns hold those of older
 * versions' entries (and '' for new ones).
 */
export const PAYLOADS_TABLE = 'llm_batch_ledger_batch_payloads';

/** The columns of an entry with its payload (older entries: their own), from `ENTRY_FROM`. */
export const ENTRY_COLUMNS = `e.record_id, e.custom_id, e.batch_id, e.prompt_hash,
	coalesce(p.request, e.request) AS request, coalesce(p.item, e.item) AS item,
	e.item_index, e.round, e.emitted, e.submitted_at`;
/**
 * The request lines a set of entries makes: a record sent alone is one; the records of a
 * grouped request (custom IDs `<request>~<position>`) count once, by their first member.
 */
export const REQUESTS_OF_ENTRIES = `sum(CASE WHEN custom_id LIKE '%~%' AND custom_id NOT LIKE '%~0' THEN 0 ELSE 1 END)`;

export const ENTRY_FROM = `${ENTRIES_TABLE} e LEFT JOIN ${PAYLOADS_TABLE} p ON p.job = e.job AND p.record_id = e.record_id`;

/** Batches adopted provisionally (no proof yet that they are the intent's): job, batch, intent. */
export const ADOPTIONS_TABLE = 'llm_batch_ledger_batch_adoptions';

/** The columns of a batch row, in the order `batchRowValues` gives them (both stores insert them). */
export const BATCH_INSERT_COLUMNS =
	'job, batch_id, provider, model, state, provider_status, request_count, counts, round, created_at, expires_at, ended_at, collected_at, updated_at';

/** Columns a ledger written before collect leases gets when it is opened. */
export const COLLECT_LEASE_COLUMNS = ['collect_owner', 'collect_until'];

/** The entries' `emitted` values: free, handed on, published by the batch's collect lease holder. */
export const EMITTED = { no: 0, yes: 1, publishing: 2 } as const;

/**
 * The batch-job tables, the same in both dialects but for the record key's type (PostgreSQL
 * compares record IDs bytewise, as SQLite does, through the "C" collation).
 */
export function batchJobSchema(recordKey: string): string {
	return `
CREATE TABLE IF NOT EXISTS ${BATCHES_TABLE} (
	job TEXT NOT NULL,
	batch_id TEXT NOT NULL,
	provider TEXT NOT NULL,
	model TEXT NOT NULL,
	state TEXT NOT NULL,
	provider_status TEXT NOT NULL,
	request_count INTEGER NOT NULL,
	counts TEXT,
	round INTEGER NOT NULL,
	created_at TEXT NOT NULL,
	expires_at TEXT,
	ended_at TEXT,
	collected_at TEXT,
	updated_at TEXT NOT NULL,
	collect_owner TEXT,
	collect_until TEXT,
	PRIMARY KEY (job, batch_id)
);
CREATE TABLE IF NOT EXISTS ${ENTRIES_TABLE} (
	job TEXT NOT NULL,
	record_id ${recordKey} NOT NULL,
	custom_id TEXT NOT NULL,
	batch_id TEXT NOT NULL,
	prompt_hash TEXT NOT NULL,
	request TEXT NOT NULL,
	item TEXT NOT NULL,
	item_index INTEGER NOT NULL,
	round INTEGER NOT NULL,
	emitted INTEGER NOT NULL DEFAULT 0,
	submitted_at TEXT NOT NULL,
	PRIMARY KEY (job, record_id)
);
CREATE INDEX IF NOT EXISTS ${ENTRIES_TABLE}_batch ON ${ENTRIES_TABLE} (job, batch_id);
CREATE INDEX IF NOT EXISTS ${ENTRIES_TABLE}_custom ON ${ENTRIES_TABLE} (job, batch_id, custom_id);
CREATE INDEX IF NOT EXISTS ${ENTRIES_TABLE}_unemitted ON ${ENTRIES_TABLE} (job, batch_id, emitted);
CREATE TABLE IF NOT EXISTS ${PAYLOADS_TABLE} (
	job TEXT NOT NULL,
	record_id ${recordKey} NOT NULL,
	request TEXT NOT NULL,
	item TEXT NOT NULL,
	PRIMARY KEY (job, record_id)
);
CREATE TABLE IF NOT EXISTS ${ADOPTIONS_TABLE} (
	job TEXT NOT NULL,
	batch_id TEXT NOT NULL,
	pending_id TEXT NOT NULL,
	PRIMARY KEY (job, batch_id)
);
`;
}
