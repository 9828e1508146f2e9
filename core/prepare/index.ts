/**
 * Batch Prepare's logic: record IDs, input validation, dedupe, sampling, chunking and the
 * pre-flight estimate. Pure: the node evaluates expressions (the pre-filter, the text to
 * count) and hands in plain values; randomness comes in as a seed.
 *
 * Every input item ends up either Ready or Rejected. Rejected items carry
 * `json.error: ItemError` with code `invalid_input` (validation, pre-filter, not in the
 * sample — `error.issues[].code` tells which) or `duplicate`.
 */
import { costUsd, priceFor, pricesAsOf } from '../cost';
import { sha256, stableStringify } from '../hash';
import { duplicateRecordIds, resolveRecordId, type DuplicateIds } from '../record-id';
import { samplePositions, seededRandom } from '../random';
import { contextWindow } from '../models';
import { getPath, type Json } from '../paths';
import { countTokens, tokenizerFor, type TokenizerName } from '../tokens';
import type { Issue, ItemError } from '../types';
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

/**
 * Stamped on every item Batch Prepare emits (Ready and Rejected), under `runField`.
 * Batch Report uses it to know when a run is complete: `total` items, each with its `seq`.
 */
export interface BatchRunStamp {
	id: string;
	/** Items this Batch Prepare run emitted, Ready and Rejected together. */
	total: number;
	/** 0-based position of this item among them. */
	seq: number;
	startedAt: string;
}

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

const TYPE_CHECKS: Record<Exclude<FieldType, 'any'>, (v: unknown) => boolean> = {
	string: (v) => typeof v === 'string',
	number: (v) => typeof v === 'number' && Number.isFinite(v),
	boolean: (v) => typeof v === 'boolean',
	object: (v) => v !== null && typeof v === 'object' && !Array.isArray(v),
	array: (v) => Array.isArray(v),
};

function pointer(field: string): string {
	return `/${field.split('.').join('/')}`;
}

function describe(v: unknown): string {
	if (v === null) return 'null';
	if (Array.isArray(v)) return 'array';
	return typeof v;
}

/** Every problem of one item against the field rules and the optional item schema. */
export function validateItem(
	json: Json,
	rules: readonly FieldRule[],
	schema?: SchemaValidator,
): Issue[] {
	const issues: Issue[] = [];
	for (const rule of rules) {
		const value = getPath(json, rule.field);
		const path = pointer(rule.field);
		const missing =
			value === undefined || value === null || (typeof value === 'string' && value.trim() === '');
		if (missing) {
			if (rule.required) issues.push({ path, message: 'is required', code: 'required' });
			continue;
		}
		const type = rule.type ?? 'any';
		if (type !== 'any' && !TYPE_CHECKS[type](value)) {
			issues.push({ path, message: `must be ${type}, got ${describe(value)}`, code: 'type' });
			continue;
		}
		const length = typeof value === 'string' || Array.isArray(value) ? value.length : undefined;
		if (length === undefined) continue;
		const unit = typeof value === 'string' ? 'characters' : 'entries';
		if (rule.minLength !== undefined && length < rule.minLength) {
			issues.push({
				path,
				message: `must have at least ${rule.minLength} ${unit}, has ${length}`,
				code: 'minLength',
			});
		}
		if (rule.maxLength !== undefined && length > rule.maxLength) {
			issues.push({
				path,
				message: `must have at most ${rule.maxLength} ${unit}, has ${length}`,
				code: 'maxLength',
			});
		}
	}
	if (schema) issues.push(...schema(json));
	return issues;
}

function contentOf(json: Json, fields: readonly string[], exclude: readonly string[]): unknown {
	if (fields.length === 0) {
		const rest: Json = { ...json };
		for (const key of exclude) delete rest[key];
		return rest;
	}
	const picked: Json = {};
	for (const field of fields) picked[field] = getPath(json, field);
	return picked;
}

/** sha256 of the stable JSON of the chosen fields, 16 hex chars (64 bits). */
export function contentHash(
	json: Json,
	fields: readonly string[],
	exclude: readonly string[] = [],
): string {
	return sha256(stableStringify(contentOf(json, fields, exclude))).slice(0, 16);
}

function rejection(reason: RejectReason, message: string, issues: Issue[]): ItemError {
	return {
		code: reason === 'duplicate' ? 'duplicate' : 'invalid_input',
		message,
		retryable: false,
		attempts: 0,
		issues,
	};
}

interface Candidate {
	index: number;
	json: Json;
	tokenText?: string;
}

interface Chunk {
	members: Candidate[];
	extra: Pick<ChunkInfo, 'keys' | 'tokens'>;
}

/** Groups of candidates, each one chunk, in output order. */
function chunk(candidates: Candidate[], chunking: Chunking, exclude: readonly string[]): Chunk[] {
	switch (chunking.mode) {
		case 'none':
			return candidates.length === 0 ? [] : [{ members: candidates, extra: {} }];
		case 'count': {
			const out = [];
			for (let i = 0; i < candidates.length; i += chunking.size) {
				const members = candidates.slice(i, i + chunking.size);
				out.push({ members, extra: {} });
			}
			return out;
		}
		case 'tokens': {
			const out: Chunk[] = [];
			let members: Candidate[] = [];
			let tokens = 0;
			for (const c of candidates) {
				const text = c.tokenText ?? stableStringify(contentOf(c.json, [], exclude));
				const t = countTokens(text, chunking.model);
				if (members.length > 0 && tokens + t > chunking.budget) {
					out.push({ members, extra: { tokens } });
					members = [];
					tokens = 0;
				}
				members.push(c);
				tokens += t;
			}
			if (members.length > 0) out.push({ members, extra: { tokens } });
			return out;
		}
		case 'group': {
			const groups = new Map<string, Candidate[]>();
			for (const c of candidates) {
				const raw = getPath(c.json, chunking.field);
				const key =
					raw === undefined || raw === null
						? ''
						: typeof raw === 'object'
							? stableStringify(raw)
							: String(raw);
				let list = groups.get(key);
				if (!list) groups.set(key, (list = []));
				list.push(c);
			}
			const max = chunking.maxItems ?? 0;
			const out: Chunk[] = [];
			let members: Candidate[] = [];
			let keys: string[] = [];
			for (const [key, list] of groups) {
				if (max <= 0) {
					out.push({ members: list, extra: { keys: [key] } });
					continue;
				}
				if (members.length > 0 && members.length + list.length > max) {
					out.push({ members, extra: { keys } });
					members = [];
					keys = [];
				}
				members = members.concat(list);
				keys.push(key);
			}
			if (members.length > 0) out.push({ members, extra: { keys } });
			return out;
		}
	}
}

/** Runs the whole Prepare Items operation over one node run's items. */
export function prepareItems(
	inputs: readonly PrepareInput[],
	config: PrepareConfig,
	run: { id: string; startedAt: string },
): PrepareResult {
	const written = [config.idField, config.chunkField, config.runField];
	const byReason: Record<RejectReason, number> = {
		filtered: 0,
		invalid: 0,
		duplicate: 0,
		not_sampled: 0,
	};
	const rejected: Array<{ index: number; json: Json }> = [];
	const reject = (index: number, json: Json, reason: RejectReason, error: ItemError) => {
		byReason[reason]++;
		rejected.push({ index, json: { ...json, error } });
	};

	const seen = new Map<string, number>();
	const candidates: Candidate[] = [];
	for (let index = 0; index < inputs.length; index++) {
		const input = inputs[index];
		let json: Json = input.json;
		const issues: Issue[] = [];

		let recordId: string | undefined;
		if (config.recordId.mode === 'field') {
			const raw = getPath(json, config.recordId.field);
			// The one rule for record IDs (core/record-id.ts); here a missing field is an error too.
			const resolved = resolveRecordId({ value: raw, expression: true });
			if (resolved.ok && resolved.id !== undefined) recordId = resolved.id;
			else {
				issues.push({
					path: pointer(config.recordId.field),
					message: `record ID field is ${resolved.ok ? 'missing' : resolved.problem.replace(/^resolved to /, '')}: it must be a non-empty text or a number`,
					code: 'recordId',
				});
			}
		} else {
			recordId = contentHash(json, config.recordId.fields, written);
		}
		if (recordId !== undefined) json = { ...json, [config.idField]: recordId };

		if (input.keep === false) {
			reject(
				index,
				json,
				'filtered',
				rejection('filtered', 'Excluded by the pre-filter', [
					{ path: '/', message: 'excluded by the pre-filter', code: 'filtered' },
				]),
			);
			continue;
		}
		issues.push(...validateItem(input.json, config.rules, config.itemSchema));
		if (issues.length > 0) {
			const summary = issues.map((i) => `${i.path}: ${i.message}`).join('; ');
			reject(index, json, 'invalid', rejection('invalid', `Invalid input: ${summary}`, issues));
			continue;
		}
		if (config.dedupe !== 'none') {
			const key =
				config.dedupe === 'id'
					? `id:${recordId}`
					: `content:${contentHash(input.json, config.contentFields, written)}`;
			const first = seen.get(key);
			if (first !== undefined) {
				const what =
					config.dedupe === 'id' ? `the same record ID "${recordId}"` : 'the same content';
				reject(
					index,
					json,
					'duplicate',
					rejection('duplicate', `Duplicate of input item ${first} (${what})`, [
						{
							path: config.dedupe === 'id' ? pointer(config.idField) : '/',
							message: `duplicate of input item ${first}`,
							code: 'duplicate',
						},
					]),
				);
				continue;
			}
			seen.set(key, index);
		}
		candidates.push({ index, json, tokenText: input.tokenText });
	}

	let chosen = candidates;
	if (config.sample.mode !== 'none' && config.sample.size < candidates.length) {
		const positions =
			config.sample.mode === 'first'
				? Array.from({ length: config.sample.size }, (_, i) => i)
				: samplePositions(candidates.length, config.sample.size, seededRandom(config.sample.seed));
		const keep = new Set(positions);
		chosen = [];
		const how =
			config.sample.mode === 'first'
				? `the first ${config.sample.size}`
				: `a random ${config.sample.size} (seed ${config.sample.seed})`;
		candidates.forEach((c, position) => {
			if (keep.has(position)) chosen.push(c);
			else
				reject(
					c.index,
					c.json,
					'not_sampled',
					rejection('not_sampled', `Not in the sample (${how})`, [
						{ path: '/', message: `not in the sample (${how})`, code: 'not_sampled' },
					]),
				);
		});
	}

	// No chunking and one output item per input: no chunk field at all.
	const plain = config.chunking.mode === 'none' && config.chunkOutput === 'perItem';
	const groups = plain ? [] : chunk(chosen, config.chunking, written);
	const count = groups.length;
	const ready: PreparedItem[] = plain
		? chosen.map((c) => ({ json: c.json, sources: [c.index] }))
		: [];
	groups.forEach((group, index) => {
		const info: ChunkInfo = { index, size: group.members.length, count, ...group.extra };
		if (config.chunkOutput === 'perChunk') {
			ready.push({
				json: {
					[config.chunkField]: info,
					items: group.members.map((m) => m.json),
					recordIds: group.members.map((m) => m.json[config.idField]),
				},
				sources: group.members.map((m) => m.index),
			});
		} else {
			for (const m of group.members) {
				ready.push({ json: { ...m.json, [config.chunkField]: info }, sources: [m.index] });
			}
		}
	});

	// The same check as LLM Batch Call's: IDs two ready records share are one ledger record.
	const duplicates = duplicateRecordIds(
		chosen.flatMap((c) => {
			const id = c.json[config.idField];
			return typeof id === 'string' ? [id] : [];
		}),
	);
	rejected.sort((a, b) => a.index - b.index);
	const total = ready.length + rejected.length;
	const stamp = (json: Json, seq: number): Json => ({
		...json,
		[config.runField]: { id: run.id, total, seq, startedAt: run.startedAt } satisfies BatchRunStamp,
	});
	const readyOut = ready.map((item, seq) => ({
		json: stamp(item.json, seq),
		sources: item.sources,
	}));
	const rejectedOut = rejected.map((item, k) => ({
		json: stamp(item.json, ready.length + k),
		sources: [item.index],
	}));
	return {
		ready: readyOut,
		rejected: rejectedOut,
		stats: {
			input: inputs.length,
			ready: readyOut.length,
			rejected: rejectedOut.length,
			chunks: count,
			byReason,
			...(duplicates ? { duplicateIds: duplicates } : {}),
		},
	};
}

// ---------------------------------------------------------------------------------------
// Pre-flight estimate

export interface EstimateConfig {
	readonly model: string;
	/** Expected completion tokens per item (the answer's size, not max tokens). @default 100 */
	readonly outputTokensPerItem: number;
	/** Sent with every request; its tokens are added to each item's input. */
	readonly systemPrompt?: string;
	/** Requests per minute allowed (0 or absent: no limit). */
	readonly rpm?: number;
	/** Tokens per minute allowed, input + output (0 or absent: no limit). */
	readonly tpm?: number;
	/** With `avgLatencyMs`: the time `concurrency` parallel requests need. */
	readonly concurrency?: number;
	readonly avgLatencyMs?: number;
	readonly priceOverrides?: Readonly<
		Record<string, { inputPer1M: number; outputPer1M: number; batchDiscount?: number }>
	>;
	/** Include every item's token count. @default false */
	readonly perItem?: boolean;
}

export interface Estimate {
	model: string;
	tokenizer: TokenizerName;
	items: number;
	tokens: {
		inputTotal: number;
		inputMean: number;
		inputMax: number;
		systemPerRequest: number;
		outputPerItem: number;
		outputTotal: number;
		total: number;
	};
	cost: {
		currency: 'USD';
		known: boolean;
		realtimeUsd: number | null;
		/** At the provider's batch-API price; null when there is none. */
		batchUsd: number | null;
		inputPer1M: number | null;
		outputPer1M: number | null;
		batchDiscount: number | null;
		pricesAsOf: string;
	};
	time: {
		seconds: number | null;
		minutes: number | null;
		boundBy: 'rpm' | 'tpm' | 'concurrency' | null;
		rpm: number | null;
		tpm: number | null;
	};
	contextWindow: number;
	itemsOverContextWindow: number;
	summary: string;
	perItem?: Array<{ index: number; inputTokens: number }>;
}

const round = (n: number, digits: number) => Math.round(n * 10 ** digits) / 10 ** digits;

/** Tokens, cost and run time of sending `texts` (one request per item) to `config.model`. */
export function estimateRun(texts: readonly string[], config: EstimateConfig): Estimate {
	const system = config.systemPrompt ? countTokens(config.systemPrompt, config.model) : 0;
	const perItem = texts.map((text) => countTokens(text, config.model) + system);
	const inputTotal = perItem.reduce((a, b) => a + b, 0);
	const outputTotal = texts.length * config.outputTokensPerItem;
	const window = contextWindow(config.model);
	const over = perItem.filter((t) => t + config.outputTokensPerItem > window).length;

	const price = priceFor(config.model, config.priceOverrides);
	const usage = { inputTokens: inputTotal, outputTokens: outputTotal };
	const realtime = price
		? (costUsd(config.model, usage, { overrides: config.priceOverrides }) ?? null)
		: null;
	const batch =
		price?.batchDiscount !== undefined
			? (costUsd(config.model, usage, { batch: true, overrides: config.priceOverrides }) ?? null)
			: null;

	const bounds: Array<[NonNullable<Estimate['time']['boundBy']>, number]> = [];
	if (config.rpm && config.rpm > 0) bounds.push(['rpm', (texts.length / config.rpm) * 60]);
	if (config.tpm && config.tpm > 0)
		bounds.push(['tpm', ((inputTotal + outputTotal) / config.tpm) * 60]);
	if (
		config.concurrency &&
		config.concurrency > 0 &&
		config.avgLatencyMs &&
		config.avgLatencyMs > 0
	) {
		bounds.push([
			'concurrency',
			(Math.ceil(texts.length / config.concurrency) * config.avgLatencyMs) / 1000,
		]);
	}
	const slowest = bounds.reduce<[NonNullable<Estimate['time']['boundBy']>, number] | undefined>(
		(a, b) => (a === undefined || b[1] > a[1] ? b : a),
		undefined,
	);
	const seconds = slowest ? round(slowest[1], 1) : null;

	const money = (usd: number | null) =>
		usd === null ? 'unknown' : `$${usd.toFixed(usd < 1 ? 4 : 2)}`;
	const parts = [
		`${texts.length} items, ${inputTotal} input + ~${outputTotal} output tokens on ${config.model}`,
		`cost ${money(realtime)} realtime${batch !== null ? `, ${money(batch)} via batch API` : ''}`,
		seconds === null
			? 'time: no RPM/TPM limit given'
			: `about ${round(seconds / 60, 1)} min (bound by ${slowest?.[0]})`,
	];
	if (over > 0) parts.push(`${over} item(s) exceed the ${window}-token context window`);

	const estimate: Estimate = {
		model: config.model,
		tokenizer: tokenizerFor(config.model),
		items: texts.length,
		tokens: {
			inputTotal,
			inputMean: texts.length === 0 ? 0 : round(inputTotal / texts.length, 1),
			inputMax: perItem.reduce((a, b) => Math.max(a, b), 0),
			systemPerRequest: system,
			outputPerItem: config.outputTokensPerItem,
			outputTotal,
			total: inputTotal + outputTotal,
		},
		cost: {
			currency: 'USD',
			known: price !== undefined,
			realtimeUsd: realtime,
			batchUsd: batch,
			inputPer1M: price?.inputPer1M ?? null,
			outputPer1M: price?.outputPer1M ?? null,
			batchDiscount: price?.batchDiscount ?? null,
			pricesAsOf,
		},
		time: {
			seconds,
			minutes: seconds === null ? null : round(seconds / 60, 2),
			boundBy: slowest?.[0] ?? null,
			rpm: config.rpm && config.rpm > 0 ? config.rpm : null,
			tpm: config.tpm && config.tpm > 0 ? config.tpm : null,
		},
		contextWindow: window,
		itemsOverContextWindow: over,
		summary: `${parts.join('; ')}.`,
	};
	if (config.perItem)
		estimate.perItem = perItem.map((inputTokens, index) => ({ index, inputTokens }));
	return estimate;
}
