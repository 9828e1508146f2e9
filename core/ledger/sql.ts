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

/**
 * Appended to a claim's DO UPDATE: the record is taken unless another owner's lease still runs
 * (status processing, lease not yet over at the claim's time) or it already succeeded with the
 * same prompt hash. A processing record without a lease (written by a start before leases
 * existed, or by Batch Ledger) counts as expired. One statement per record, so the check and
 * the take are atomic on both stores.
 */
export const CLAIMABLE = `WHERE NOT (${RECORDS_TABLE}.status = 'succeeded' AND ${RECORDS_TABLE}.prompt_hash = excluded.prompt_hash)
	AND (${RECORDS_TABLE}.status <> 'processing' OR ${RECORDS_TABLE}.lease_until IS NULL
		OR ${RECORDS_TABLE}.lease_until < excluded.updated_at OR ${RECORDS_TABLE}.lease_owner = excluded.lease_owner)`;

/** Default page size for listing and export. */
export const DEFAULT_PAGE = 1000;
