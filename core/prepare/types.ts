/** Batch Prepare's configuration, inputs and results. */
import type { DuplicateIds } from '../record-id';
import type { Json } from '../paths';
import type { SchemaValidator } from '../schema';

export type FieldType = 'any' | 'string' | 'number' | 'boolean' | 'object' | 'array';

/** One per-field check. Length rules apply to strings (characters) and arrays (entries). */
export interface FieldRule {
	readonly field: string;
	/** Missing, null and blank strings fail. @default false */
	readonly required?: boolean;
	/** @default 'any' */
	readonly type?: FieldType;
	readonly minLength?: number;
	readonly maxLength?: number;
}

export type RecordIdSource =
	| { readonly mode: 'field'; readonly field: string }
	/** `fields` empty: the whole item (minus the fields Batch Prepare writes). */
	| { readonly mode: 'hash'; readonly fields: readonly string[] };

export type Sampling =
	| { readonly mode: 'none' }
	| { readonly mode: 'first'; readonly size: number }
	| { readonly mode: 'random'; readonly size: number; readonly seed: number };

export type Chunking =
	| { readonly mode: 'none' }
	| { readonly mode: 'count'; readonly size: number }
	/** Greedy packing up to `budget` tokens of each item's token text; a larger item gets a chunk of its own. */
	| { readonly mode: 'tokens'; readonly budget: number; readonly model: string }
	/**
	 * Items sharing the value of `field` stay in one chunk. `maxItems` > 0 packs whole groups
	 * into chunks of at most that many items (a bigger group still stays whole).
	 */
	| { readonly mode: 'group'; readonly field: string; readonly maxItems?: number };

export interface PrepareConfig {
	readonly recordId: RecordIdSource;
	/** Where the record ID is written. @default 'recordId' */
	readonly idField: string;
	/** @default 'none' */
	readonly dedupe: 'none' | 'id' | 'content';
	/** Fields compared by content dedupe; empty: the whole item. */
	readonly contentFields: readonly string[];
	readonly rules: readonly FieldRule[];
	readonly itemSchema?: SchemaValidator;
	readonly sample: Sampling;
	readonly chunking: Chunking;
	/** `perItem`: every item gains `chunkField`; `perChunk`: one item per chunk holding `items`. */
	readonly chunkOutput: 'perItem' | 'perChunk';
	/** @default 'chunk' */
	readonly chunkField: string;
	/** @default 'batchRun' */
	readonly runField: string;
}

export const PREPARE_DEFAULTS = {
	idField: 'recordId',
	chunkField: 'chunk',
	runField: 'batchRun',
} as const;

export interface PrepareInput {
	readonly json: Json;
	/** The pre-filter's verdict for this item (false: rejected as `filtered`). @default true */
	readonly keep?: boolean;
	/** Text whose tokens count for token-budget chunking; default: the item as JSON. */
	readonly tokenText?: string;
}

/** Stamped on every item Batch Prepare emits (Ready and Rejected), under `runField`. */
export type { BatchRunStamp } from '../run-stamp';

export interface ChunkInfo {
	index: number;
	size: number;
	count: number;
	/** Group mode: the group key(s) in this chunk. */
	keys?: string[];
	/** Token mode: the chunk's token count. */
	tokens?: number;
}

export interface PreparedItem {
	json: Json;
	/** Input item indexes this output item stands for (one, or a whole chunk). */
	sources: number[];
}

export type RejectReason = 'filtered' | 'invalid' | 'duplicate' | 'not_sampled';

export interface PrepareResult {
	ready: PreparedItem[];
	rejected: PreparedItem[];
	stats: {
		input: number;
		ready: number;
		rejected: number;
		chunks: number;
		byReason: Record<RejectReason, number>;
		/** Record IDs that more than one ready item carries (no dedupe by ID asked). */
		duplicateIds?: DuplicateIds;
	};
}
