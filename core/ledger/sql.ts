/**
 * SQL shared by both stores. One table of records keyed (job, record_id), one response
 * cache keyed by prompt_hash. A success is final for its prompt hash: no later write of the
 * same prompt (a concurrent worker's start, a late failure) downgrades it.
 */
export const RECORDS_TABLE = 'llm_batch_ledger_records';
export const CACHE_TABLE = 'llm_batch_ledger_cache';

/**
 * Appended to the upserts' DO UPDATE so a stored success stays unless the new write belongs to a
 * different, known prompt (an empty hash — e.g. a failure recorded by Batch Ledger from an item
 * that carries none — never replaces a paid result).
 */
export const KEEP_SUCCESS = `WHERE NOT (${RECORDS_TABLE}.status = 'succeeded' AND (${RECORDS_TABLE}.prompt_hash = excluded.prompt_hash OR excluded.prompt_hash = ''))`;

/** Default page size for listing and export. */
export const DEFAULT_PAGE = 1000;
