/**
 * SQL shared by both stores. One table of records keyed (job, record_id), one response
 * cache keyed by prompt_hash. A success is final for its prompt hash: no later write of the
 * same prompt (a concurrent worker's start, a late failure) downgrades it.
 */
export const RECORDS_TABLE = 'llm_batch_ledger_records';
export const CACHE_TABLE = 'llm_batch_ledger_cache';
/**
 * Job budgets: one row per request reserved against a job's cost cap (core/call/budget.ts) —
 * `reserved` (its most, until `reserved_until`) while in flight, then `paid`: `spend_usd` what
 * its answer cost and is not yet in the job's records, `stored_usd` what is in them since
 * `stored_at` (counted from the row by readings of the records taken before then).
 */
export const SPEND_TABLE = 'llm_batch_ledger_spend';
/** Less than this is nothing (float noise). */
export const SPEND_EPSILON = 1e-12;
/**
 * A reading of the records counts spend stored up to this long before it from the spend rows
 * too: double for a moment, never missing. The times are one clock's (SQLite: the machine's;
 * PostgreSQL: the server's), and a result is committed before its spend is marked stored.
 */
export const STORED_MARGIN_MS = 1000;
/** Stored spend rows are kept this long: longer than any reading is used (see core/call/spend-store.ts). */
export const STORED_KEEP_MS = 10 * 60_000;

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

/**
 * What a record paid before its current attempt, kept apart from `last_error` / `result`
 * (which the attempt's final write replaces): the cost and tokens of the unusable answers of
 * an earlier execution whose record failed. Columns added after the first release; both
 * stores add them to older ledgers on open.
 */
export const PRIOR_COLUMNS = ['prior_cost_usd', 'prior_input_tokens', 'prior_output_tokens'];

/**
 * SET clauses for an upsert or update that takes a record out of `failed` for a new attempt:
 * what the failure paid (`last_error.costUsd`, `last_error.usage`) moves into the prior
 * columns, since the attempt's final write replaces `last_error`. `also` is an extra SQL
 * condition (a claim skips the records whose attempt carries that usage in its own result:
 * a re-ask fed from the workflow). The row's status at that moment is the old one, so a
 * record is folded once: the claim makes it `processing`.
 */
export function foldPriorPaid(dialect: 'sqlite' | 'postgres', also = 'TRUE'): string {
	const t = RECORDS_TABLE;
	const field = (path: string[]) =>
		dialect === 'sqlite'
			? `json_extract(${t}.last_error, '$.${path.join('.')}')`
			: `(${t}.last_error${path
					.slice(0, -1)
					.map((p) => `->'${p}'`)
					.join('')}->>'${path[path.length - 1]}')::numeric`;
	const when = `${t}.status = 'failed' AND ${also}`;
	const add = (column: string, path: string[]) =>
		`${column} = ${t}.${column} + CASE WHEN ${when} THEN coalesce(${field(path)}, 0) ELSE 0 END`;
	return [
		add('prior_cost_usd', ['costUsd']),
		add('prior_input_tokens', ['usage', 'inputTokens']),
		add('prior_output_tokens', ['usage', 'outputTokens']),
	].join(', ');
}

/**
 * Condition on a succeeded row of the job totals (and so of the job budget): its answer was
 * paid by this job. A response-cache hit (`result.cached`) was paid by the call that stored
 * it; its result keeps that answer's usage and cost, and counts as nothing spent.
 */
export function paidResult(dialect: 'sqlite' | 'postgres'): string {
	return dialect === 'sqlite'
		? `json_extract(result, '$.cached') IS NOT 1`
		: `(result->>'cached') IS DISTINCT FROM 'true'`;
}

/**
 * What the job's records paid (JobStats.costUsd): stored results that were paid for, what
 * failed records paid, and what earlier failures of re-attempted records paid. The job totals
 * and the job budget read this one expression.
 */
export function paidCostSql(dialect: 'sqlite' | 'postgres'): string {
	if (dialect === 'sqlite')
		return `coalesce(sum(CASE WHEN status = 'succeeded' AND ${paidResult('sqlite')} THEN json_extract(result, '$.costUsd')
				          WHEN status = 'failed' THEN json_extract(last_error, '$.costUsd') END), 0)
				   + coalesce(sum(prior_cost_usd), 0)`;
	return `coalesce(sum(CASE WHEN status = 'succeeded' AND ${paidResult('postgres')} THEN (result->>'costUsd')::numeric
			          WHEN status = 'failed' THEN (last_error->>'costUsd')::numeric END), 0)
			   + coalesce(sum(prior_cost_usd)::numeric, 0)`;
}
