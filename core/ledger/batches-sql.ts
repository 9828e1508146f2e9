import type { BatchRow } from './batches';
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
export const ENTRY_FROM = `${ENTRIES_TABLE} e LEFT JOIN ${PAYLOADS_TABLE} p ON p.job = e.job AND p.record_id = e.record_id`;

/** Batches adopted provisionally (no proof yet that they are the intent's): job, batch, intent. */
export const ADOPTIONS_TABLE = 'llm_batch_ledger_batch_adoptions';

/** The columns of a batch row, in the order `batchRowValues` gives them (both stores insert them). */
export const BATCH_INSERT_COLUMNS =
	'job, batch_id, provider, model, state, provider_status, request_count, counts, round, created_at, expires_at, ended_at, collected_at, updated_at';

/** A batch row's values for `BATCH_INSERT_COLUMNS`. */
export function batchRowValues(b: BatchRow): Array<string | number | null> {
	return [
		b.job,
		b.batchId,
		b.provider,
		b.model,
		b.state,
		b.providerStatus,
		b.requestCount,
		b.counts === null ? null : JSON.stringify(b.counts),
		b.round,
		b.createdAt,
		b.expiresAt,
		b.endedAt,
		b.collectedAt,
		b.updatedAt,
	];
}

/** Columns a ledger written before collect leases gets when it is opened. */
export const COLLECT_LEASE_COLUMNS = ['collect_owner', 'collect_until'];

/** The entries' `emitted` values: free, handed on, published by the batch's collect lease holder. */
export const EMITTED = { no: 0, yes: 1, publishing: 2 } as const;
