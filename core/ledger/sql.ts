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
/** Heartbeats: one row per (job, execution) working on it, updated in place (core/ledger/heartbeat). */
export const HEARTBEATS_TABLE = 'llm_batch_ledger_heartbeats';
/** The executions' counters over time, a bounded series per job for the status charts. */
export const SAMPLES_TABLE = 'llm_batch_ledger_samples';
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
export const PRIOR_COLUMNS: readonly string[] = [
	'prior_cost_usd',
	'prior_input_tokens',
	'prior_output_tokens',
];

type Dialect = 'sqlite' | 'postgres';

/** A number inside a JSON column or value, as SQL: `path` from the document's root. */
function jsonNumber(dialect: Dialect, json: string, path: readonly string[]): string {
	if (dialect === 'sqlite') return `json_extract(${json}, '$.${path.join('.')}')`;
	const steps = path.slice(0, -1).map((p) => `->'${p}'`);
	return `(${json}${steps.join('')}->>'${path[path.length - 1]}')::numeric`;
}

/** The three numbers a record paid, each with its place in an answer or error and its total's name. */
const PAID = [
	{
		column: 'paid_cost_usd',
		prior: 'prior_cost_usd',
		path: ['costUsd'],
		total: 'cost_usd',
	},
	{
		column: 'paid_input_tokens',
		prior: 'prior_input_tokens',
		path: ['usage', 'inputTokens'],
		total: 'input_tokens',
	},
	{
		column: 'paid_output_tokens',
		prior: 'prior_output_tokens',
		path: ['usage', 'outputTokens'],
		total: 'output_tokens',
	},
] as const;
type Paid = (typeof PAID)[number];

/**
 * SET clauses for an upsert or update that takes a record out of `failed` for a new attempt:
 * what the failure paid (`last_error.costUsd`, `last_error.usage`) moves into the prior
 * columns, since the attempt's final write replaces `last_error`. `also` is an extra SQL
 * condition (a claim skips the records whose attempt carries that usage in its own result:
 * a re-ask fed from the workflow). The row's status at that moment is the old one, so a
 * record is folded once: the claim makes it `processing`.
 */
export function foldPriorPaid(dialect: Dialect, also = 'TRUE'): string {
	const t = RECORDS_TABLE;
	const when = `${t}.status = 'failed' AND ${also}`;
	return PAID.map(
		(p) =>
			`${p.prior} = ${t}.${p.prior} + CASE WHEN ${when} THEN coalesce(${jsonNumber(dialect, `${t}.last_error`, p.path)}, 0) ELSE 0 END`,
	).join(', ');
}

/**
 * What a record's current outcome paid, kept as numbers beside the JSON so the job totals need
 * not open every record's JSON. Written with the outcome (by the same statement); NULL on rows
 * written before the columns existed, which the totals read from the JSON instead.
 */
export const PAID_COLUMNS: readonly string[] = PAID.map((p) => p.column);

/** SQL for a record's status, result and last error: a stored row's columns, or values being written. */
export interface OutcomeSql {
	status: string;
	result: string;
	lastError: string;
}

/**
 * The one rule of what a record's outcome paid toward the job totals (and so the job budget):
 * a success's answer unless it was a response-cache hit (`result.cached`: paid by the call
 * that stored it, counted as nothing spent), a failure's unusable answers (`last_error.costUsd`,
 * `.usage`); anything else nothing (NULL).
 */
function outcomePaid(dialect: Dialect, paid: Paid, o: OutcomeSql): string {
	const notCached =
		dialect === 'sqlite'
			? `json_extract(${o.result}, '$.cached') IS NOT 1`
			: `(${o.result}->>'cached') IS DISTINCT FROM 'true'`;
	return `CASE WHEN ${o.status} = 'succeeded' AND ${notCached} THEN ${jsonNumber(dialect, o.result, paid.path)}
		WHEN ${o.status} = 'failed' THEN ${jsonNumber(dialect, o.lastError, paid.path)} END`;
}

/** The values of PAID_COLUMNS for an outcome being written, in their order (0 for nothing). */
export function paidValues(dialect: Dialect, o: OutcomeSql): string {
	return PAID.map((p) => `coalesce(${outcomePaid(dialect, p, o)}, 0)`).join(', ');
}

/** SET clauses of an upsert's DO UPDATE that stores the new outcome's paid numbers with it. */
export const SET_PAID = PAID.map((p) => `${p.column} = excluded.${p.column}`).join(', ');

/**
 * The job's records that count toward its totals (their outcome is a success or a failure) but
 * were written before the paid columns: read from their JSON. A partial index with this very
 * text as its condition (so planners match it) holds exactly these, so on a ledger written
 * since, finding none costs nothing.
 */
export const UNPAID_ROWS = `status IN ('succeeded', 'failed') AND paid_cost_usd IS NULL`;
/** The partial index of UNPAID_ROWS. */
export const UNPAID_INDEX = `${RECORDS_TABLE}_unpaid`;

/**
 * The job's totals read from the record columns alone, so the covering index (recordIndexes in
 * core/ledger/schema.ts) answers them without visiting the rows. Per paid number: the outcomes'
 * columns of succeeded and failed records plus what earlier failures of re-attempted records
 * paid (the prior columns). A record whose outcome a new attempt has taken over counts nothing
 * until that attempt's final write: its status is then neither succeeded nor failed.
 *
 * PostgreSQL aggregates per status first (the index hands the rows over in status order, and
 * the per-row work is then plain sums, no condition per row: ~20 % less at 100,000 records);
 * its paid sums are exact decimals, so partial sums change nothing. SQLite sums doubles,
 * compensated over one pass, and partial sums would round each: it sums in one pass, as before.
 */
function keptTotals(dialect: Dialect, job: string): string {
	const statuses = ['pending', 'processing', 'succeeded', 'failed'];
	const outcome = (column: string) =>
		`CASE WHEN status IN ('succeeded', 'failed') THEN ${column} END`;
	if (dialect === 'sqlite') {
		const paid = PAID.map(
			(p) => `coalesce(sum(${outcome(p.column)}), 0) + coalesce(sum(${p.prior}), 0) AS ${p.total}`,
		);
		return `SELECT count(*) AS total, ${statuses.map((st) => `count(CASE WHEN status = '${st}' THEN 1 END) AS ${st}`).join(', ')},
			sum(attempts) AS attempts, ${paid.join(', ')},
			min(created_at) AS first_created_at, max(updated_at) AS last_updated_at
			FROM ${RECORDS_TABLE} WHERE job = ${job}`;
	}
	const perStatus = PAID.map(
		(p) => `sum(${p.column}) AS ${p.column}, sum(${p.prior})::numeric AS ${p.prior}`,
	);
	const paid = PAID.map(
		(p) => `coalesce(sum(${outcome(p.column)}), 0) + coalesce(sum(${p.prior}), 0) AS ${p.total}`,
	);
	return `SELECT coalesce(sum(n), 0) AS total, ${statuses.map((st) => `coalesce(sum(CASE WHEN status = '${st}' THEN n END), 0) AS ${st}`).join(', ')},
		sum(attempts) AS attempts, ${paid.join(', ')},
		min(first_created_at) AS first_created_at, max(last_updated_at) AS last_updated_at
		FROM (SELECT status, count(*) AS n, sum(attempts) AS attempts, ${perStatus.join(', ')},
			min(created_at) AS first_created_at, max(updated_at) AS last_updated_at
			FROM ${RECORDS_TABLE} WHERE job = ${job} GROUP BY status) AS by_status`;
}

/** The paid numbers of the job's records written before the paid columns, from their JSON. */
function unpaidTotals(dialect: Dialect, job: string): string {
	const stored: OutcomeSql = { status: 'status', result: 'result', lastError: 'last_error' };
	const paid = PAID.map(
		(p) => `coalesce(sum(${outcomePaid(dialect, p, stored)}), 0) AS ${p.total}`,
	);
	// SQLite's planner prefers the covering index, which holds every row of the job's status;
	// the partial index holds the unpaid rows alone (none on a ledger written since).
	const from = dialect === 'sqlite' ? `${RECORDS_TABLE} INDEXED BY ${UNPAID_INDEX}` : RECORDS_TABLE;
	return `SELECT ${paid.join(', ')} FROM ${from} WHERE job = ${job} AND ${UNPAID_ROWS}`;
}

/**
 * One row of the job's totals (JobStats: total, pending, processing, succeeded, failed,
 * attempts, input_tokens, output_tokens, cost_usd, first_created_at, last_updated_at). `job`
 * is the statement's placeholder for the job, used twice.
 */
export function jobTotalsSql(dialect: Dialect, job: string): string {
	const sums = PAID.map((p) => `kept.${p.total} + unpaid.${p.total} AS ${p.total}`);
	return `SELECT kept.total, kept.pending, kept.processing, kept.succeeded, kept.failed, kept.attempts,
		${sums.join(', ')}, kept.first_created_at, kept.last_updated_at
		FROM (${keptTotals(dialect, job)}) AS kept, (${unpaidTotals(dialect, job)}) AS unpaid`;
}

/** What the job's records paid (JobStats.costUsd), as the job budget reads it: one row, `usd`. */
export function jobPaidSql(dialect: Dialect, job: string): string {
	return `SELECT kept.cost_usd + unpaid.cost_usd AS usd
		FROM (${keptTotals(dialect, job)}) AS kept, (${unpaidTotals(dialect, job)}) AS unpaid`;
}
