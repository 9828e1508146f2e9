/** What both dialects read back from the record tables, in the store's types. */
import type { ItemError, LlmResult } from '../types';
import type { JobStats, LedgerRecord, RecordStatus } from './types';

/** A record row: SQLite returns JSON and times as text, PostgreSQL parsed (objects, Dates). */
export interface RecordRow {
	job: string;
	record_id: string;
	status: string;
	attempts: number;
	prompt_hash: string;
	last_error: string | ItemError | null;
	result: string | LlmResult | null;
	created_at: string | Date;
	updated_at: string | Date;
}

const fromJson = <T>(v: string | T | null): T | null =>
	v === null ? null : typeof v === 'string' ? (JSON.parse(v) as T) : v;
const iso = (v: string | Date): string => (v instanceof Date ? v.toISOString() : v);

export function toRecord(row: RecordRow): LedgerRecord {
	return {
		job: row.job,
		recordId: row.record_id,
		status: row.status as RecordStatus,
		attempts: Number(row.attempts),
		promptHash: row.prompt_hash,
		lastError: fromJson(row.last_error),
		result: fromJson(row.result),
		createdAt: iso(row.created_at),
		updatedAt: iso(row.updated_at),
	};
}

export function buildStats(
	job: string,
	totals: Record<string, unknown>,
	codes: ReadonlyArray<{ code: string | null; n: unknown }>,
): JobStats {
	const num = (v: unknown) => (v === null || v === undefined ? 0 : Number(v));
	const str = (v: unknown) =>
		v === null || v === undefined ? null : v instanceof Date ? v.toISOString() : String(v);
	const errorsByCode: Record<string, number> = {};
	for (const c of codes) errorsByCode[c.code ?? 'unknown'] = num(c.n);
	return {
		job,
		total: num(totals.total),
		pending: num(totals.pending),
		processing: num(totals.processing),
		succeeded: num(totals.succeeded),
		failed: num(totals.failed),
		attempts: num(totals.attempts),
		inputTokens: num(totals.input_tokens),
		outputTokens: num(totals.output_tokens),
		costUsd: num(totals.cost_usd),
		errorsByCode,
		firstCreatedAt: str(totals.first_created_at),
		lastUpdatedAt: str(totals.last_updated_at),
	};
}
