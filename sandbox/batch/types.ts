/** The batch APIs' shapes: their options and counters, and the batches and files they keep. */
import type { IncomingMessage, ServerResponse } from 'node:http';

import type { GroupFaultKind } from '../group';
import type { Dialect as Provider } from '../protocol';

export type { Provider };

export interface BatchCapsOption {
	maxRequests: number;
	maxBytes: number;
}

export interface BatchSandboxOptions {
	/** Time a batch takes to process all of its requests. @default 60000 */
	processingMs?: number;
	/** A batch not done this long after creation expires. @default 86400000 (24 h) */
	expiresAfterMs?: number;
	/** Time between a cancel request and the batch ending. @default 0 */
	cancelMs?: number;
	/** @default OpenAI 50,000 / 200 MB, Anthropic 100,000 / 256 MB */
	caps?: Partial<Record<Provider, BatchCapsOption>>;
	/** Hostile result files (OpenAI: the output file; Anthropic: the results stream). @default none */
	resultFaults?: ResultFaults;
	/** Every OpenAI batch created from now on fails as a whole with this error (e.g. `token_limit_exceeded`). */
	failBatches?: { code: string; message: string } | null;
	/**
	 * Share of grouped answers (Records per Request) spoiled, by kind, in batches created from
	 * now on: a record left out, answered twice, or two records' answers swapped. @default none
	 */
	groupFaults?: Partial<Record<GroupFaultKind, number>>;
}

/** Named faults of a result file; positions count the file's lines in the order they are sent. */
export interface ResultFaults {
	/** This line is replaced by invalid JSON that still begins with its custom_id. */
	garbledLine?: number;
	/** A line that is not JSON and names no custom_id is sent before this line. */
	unreadableLine?: number;
	/** The file's last line is cut off mid-JSON (a truncated download: half the line, no newline). */
	cutOffLastLine?: boolean;
	/**
	 * This line comes twice: `conflict` a second answer with other text after it, `error-first`
	 * an error line (500) for the same custom_id before it, `same` the identical line again.
	 */
	duplicateLine?: { at: number; kind: 'conflict' | 'error-first' | 'same' };
}

export interface BatchSandboxStats {
	batchesCreated: Record<Provider, number>;
	/** Request lines accepted into batches. */
	requestsReceived: number;
	/** custom_id -> times it arrived in a batch (over all batches). */
	received: Map<string, number>;
	/**
	 * Record ID -> times it arrived inside a grouped request (Records per Request: the
	 * `<record id=…>` blocks of the line's prompt), over all batches.
	 */
	groupedRecords: Map<string, number>;
	/** Batches refused for breaking a cap. */
	capRejections: number;
	/**
	 * What the ended batches billed, as the realtime endpoints count it: every input token of
	 * the answered lines (cache reads and writes included), output tokens, and of the input
	 * the prompt-cache reads and writes. Counted once per batch, when it is seen ended.
	 */
	billed: {
		lines: number;
		inputTokens: number;
		outputTokens: number;
		cacheReadTokens: number;
		cacheWriteTokens: number;
	};
}

export interface BatchSandbox {
	/** Handles a batch route; false when the path is not one. */
	handle(method: string, path: string, req: IncomingMessage, res: ServerResponse): boolean;
	configure(o: BatchSandboxOptions): void;
	stats(): BatchSandboxStats;
	reset(): void;
}

export interface Line {
	customId: string;
	/** The request body (OpenAI), params (Anthropic) or request (Gemini). */
	body: Record<string, unknown>;
}

export interface Batch {
	id: string;
	provider: Provider;
	lines: Line[];
	/** Processing order: a shuffled permutation of line positions. */
	order: number[];
	createdAt: number;
	processingMs: number;
	expiresAt: number;
	cancelAt?: number;
	cancelMs: number;
	metadata: unknown;
	inputFileId?: string;
	/** Gemini: the model of the create's path (its requests do not name it). */
	model?: string;
	/** Gemini: the requests came inline (results inline), else from a file (a responses file). */
	inline?: boolean;
	/** OpenAI: input refused (caps, bad lines). */
	failure?: { code: string; message: string };
	outputFileId?: string;
	errorFileId?: string;
	/** The seed of its rolls (group faults), drawn at creation. */
	seed?: number;
	/** Group faults of the options when it was created. */
	groupFaults?: Partial<Record<GroupFaultKind, number>>;
}

export interface StoredFile {
	id: string;
	bytes: number;
	purpose: string;
	createdAt: number;
	/** Input files hold their lines; output/error files are generated on read. */
	content?: string;
	output?: { batch: Batch; kind: 'output' | 'error' };
}
