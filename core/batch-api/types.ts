import type { ChatRequest, ChatResponse } from '../call/providers/types';
import type { ItemError, ProviderName } from '../types';

/** A provider batch's lifecycle, normalised over both APIs. */
export type BatchState =
	/** OpenAI validating the input file. */
	| 'validating'
	| 'in_progress'
	/** OpenAI writing the result files. */
	| 'finalizing'
	/** Cancel asked, not yet ended. */
	| 'canceling'
	/** Every request has an outcome; results can be read. */
	| 'ended';

export interface BatchCounts {
	total: number;
	/** Still waiting or running. */
	processing: number;
	succeeded: number;
	/** Errored lines (the provider's count; expired and canceled lines are counted apart when known). */
	errored: number;
	canceled: number;
	expired: number;
}

/** What the batch API tells about one batch, the same for both providers. */
export interface BatchStatus {
	id: string;
	provider: ProviderName;
	state: BatchState;
	/** The provider's own word: OpenAI `completed`, `expired`, `cancelled`, `failed`…; Anthropic `in_progress`, `canceling`, `ended`. */
	providerStatus: string;
	counts: BatchCounts;
	createdAt: string;
	expiresAt?: string;
	endedAt?: string;
	/** A batch the provider refused as a whole (OpenAI `failed`: the input file did not validate). */
	failure?: string;
	/** The provider's code for that refusal (OpenAI `errors.data[0].code`, e.g. `token_limit_exceeded`). */
	failureCode?: string;
	/**
	 * `false`: the batch has ended but the provider names no results to read (Anthropic: no
	 * `results_url`, as when every request was canceled or expired, or the results are not
	 * published yet). Absent: read the results when ended.
	 */
	resultsReady?: boolean;
}

/** One request of a batch, ready to upload. */
export interface BatchRequestLine {
	customId: string;
	/** The JSONL line (OpenAI) or the JSON of one `requests[]` entry (Anthropic). */
	line: string;
}

/** A result line read back: the answer to read like a realtime answer, or the line's error. */
export type BatchResultLine =
	| { customId: string; ok: true; response: ChatResponse }
	| { customId: string; ok: false; error: ItemError };

/**
 * The request lines of one batch, built as they are read: a batch of 190 MB is never held
 * whole (the lines are made again from the records, a page at a time, while the upload runs).
 */
export interface BatchLines {
	readonly count: number;
	/** UTF-8 bytes of all lines, separators not counted (the upload's length is known up front). */
	readonly bytes: number;
	/** The lines in order, a page at a time. */
	pages(): AsyncIterable<readonly string[]>;
}

/** Lines already in memory, as BatchLines. */
export function batchLines(lines: readonly string[]): BatchLines {
	return {
		count: lines.length,
		bytes: lines.reduce((n, l) => n + Buffer.byteLength(l), 0),
		async *pages() {
			yield lines;
		},
	};
}

export function asBatchLines(lines: BatchLines | readonly string[]): BatchLines {
	return Array.isArray(lines) ? batchLines(lines as readonly string[]) : (lines as BatchLines);
}

/** The provider side of LLM Batch Job: one implementation per provider (see ./providers). */
export interface BatchApi {
	readonly provider: ProviderName;
	/** The request line of one record (same body as LLM Batch Call sends). */
	requestLine(customId: string, request: ChatRequest): string;
	/**
	 * Uploads (OpenAI; Gemini over 20 MB) or sends (Anthropic; Gemini inline) one batch of lines
	 * and starts it, streaming the lines as they are built. `metadata` carries `submission` (the
	 * nonce), `job`, `records` and `model`. Rejects with the provider's status when it refused (nothing was
	 * created), without one when no answer came (unknown).
	 */
	create(
		lines: BatchLines | readonly string[],
		metadata: Record<string, string>,
	): Promise<BatchStatus>;
	retrieve(id: string): Promise<BatchStatus>;
	/**
	 * Batches that may be the one a submission created, if the provider accepted it (after a
	 * crash before the ledger recorded it). OpenAI: the batch whose metadata carries
	 * `submission: key` (`byKey`). Anthropic (no metadata): every batch created since `after`
	 * with `count` requests; core/batch-api/adoption.ts decides which one, if any, is adopted.
	 */
	findSubmission(
		key: string,
		o: { after: number; count: number },
	): Promise<{ byKey: boolean; batches: BatchStatus[] }>;
	cancel(id: string): Promise<BatchStatus>;
	/**
	 * The result lines of an ended batch, streamed (never the whole file in memory), in the
	 * provider's order (not the input order), a page at a time (the lines of one chunk read):
	 * each step of an async iteration costs a promise and a result object, so a Collect of
	 * 10,000 lines pays it per page, not per line. OpenAI: the output file, then the error file.
	 */
	results(id: string, model: string): AsyncIterable<BatchResultLine[]>;
}
