/**
 * The batch-job tables' rows as both dialects return them, read into the store's types, and a
 * batch row's values as both insert them.
 */
import type { AnswerEntry, BatchEntry, BatchRow } from './batches';

export interface BatchDbRow {
	job: string;
	batch_id: string;
	provider: string;
	model: string;
	state: string;
	provider_status: string;
	request_count: number;
	counts: string | null;
	round: number;
	created_at: string;
	expires_at: string | null;
	ended_at: string | null;
	collected_at: string | null;
	updated_at: string;
	collect_owner?: string | null;
	collect_until?: string | null;
}

export interface EntryDbRow {
	record_id: string;
	custom_id: string;
	batch_id: string;
	prompt_hash: string;
	request: string;
	item: string;
	item_index: number;
	round: number;
	emitted: number;
	submitted_at: string;
}

export function toBatchRow(r: BatchDbRow): BatchRow {
	return {
		job: r.job,
		batchId: r.batch_id,
		provider: r.provider === 'anthropic' || r.provider === 'gemini' ? r.provider : 'openai',
		model: r.model,
		state: r.state,
		providerStatus: r.provider_status,
		requestCount: Number(r.request_count),
		counts:
			r.counts === null ? null : typeof r.counts === 'string' ? JSON.parse(r.counts) : r.counts,
		round: Number(r.round),
		createdAt: String(r.created_at),
		expiresAt: r.expires_at === null ? null : String(r.expires_at),
		endedAt: r.ended_at === null ? null : String(r.ended_at),
		collectedAt: r.collected_at === null ? null : String(r.collected_at),
		updatedAt: String(r.updated_at),
		// Only while a Collect holds the batch: a row at rest reads as it did before leases.
		...(r.collect_owner
			? { collectOwner: r.collect_owner, collectUntil: r.collect_until ?? null }
			: {}),
	};
}

/** An entry row; `batchId` when the query did not select it (it asked by batch). */
export function toEntry(
	r: Omit<EntryDbRow, 'batch_id'> & { batch_id?: string },
	batchId?: string,
): BatchEntry {
	return {
		recordId: r.record_id,
		customId: r.custom_id,
		batchId: batchId ?? r.batch_id ?? '',
		promptHash: r.prompt_hash,
		request: r.request,
		item: r.item,
		itemIndex: Number(r.item_index),
		round: Number(r.round),
		emitted: Boolean(Number(r.emitted)),
		submittedAt: String(r.submitted_at),
	};
}

export type AnswerEntryDbRow = Omit<EntryDbRow, 'batch_id' | 'request'> & {
	model: string;
	max_tokens: number | string;
	schema: string | null;
};

export function toAnswerEntry(r: AnswerEntryDbRow, batchId: string): AnswerEntry {
	return {
		recordId: r.record_id,
		customId: r.custom_id,
		batchId,
		promptHash: r.prompt_hash,
		item: r.item,
		itemIndex: Number(r.item_index),
		round: Number(r.round),
		emitted: Boolean(Number(r.emitted)),
		submittedAt: String(r.submitted_at),
		answer: {
			model: r.model,
			maxTokens: Number(r.max_tokens),
			schema: r.schema === null || r.schema === 'null' ? null : r.schema,
		},
	};
}

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

/** A row of the pending-submission query (entries of a `pending:` batch grouped by it). */
export function toPendingSubmission(r: {
	batch_id: string;
	n: number | string;
	r: number | string;
	at: string;
}): { pendingId: string; count: number; requests: number; submittedAt: string } {
	return { pendingId: r.batch_id, count: Number(r.n), requests: Number(r.r), submittedAt: r.at };
}
