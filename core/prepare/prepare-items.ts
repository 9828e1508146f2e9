/**
 * The Prepare Items operation over one node run's items, as a pipeline: each item gets its
 * record ID and is screened (pre-filter, field rules and schema, dedupe); the survivors are
 * sampled, then chunked; every output is stamped with the run. Each input ends Ready or
 * Rejected, exactly once.
 */
import { duplicateRecordIds, resolveRecordId } from '../record-id';
import { samplePositions, seededRandom } from '../random';
import { getPath, type Json } from '../paths';
import { runStamp, type RunStart } from '../run-stamp';
import type { Issue, ItemError } from '../types';
import { chunk, type Candidate } from './chunk';
import { contentHash } from './content-hash';
import type {
	ChunkInfo,
	PrepareConfig,
	PrepareInput,
	PreparedItem,
	PrepareResult,
	RejectReason,
} from './types';
import { pointer, validateItem } from './validate';

function rejection(reason: RejectReason, message: string, issues: Issue[]): ItemError {
	return {
		code: reason === 'duplicate' ? 'duplicate' : 'invalid_input',
		message,
		retryable: false,
		attempts: 0,
		issues,
	};
}

/** The rejected items so far, and how many per reason. */
class Rejections {
	readonly byReason: Record<RejectReason, number> = {
		filtered: 0,
		invalid: 0,
		duplicate: 0,
		not_sampled: 0,
	};
	readonly items: Array<{ index: number; json: Json }> = [];

	add(index: number, json: Json, reason: RejectReason, message: string, issues: Issue[]): void {
		this.byReason[reason]++;
		this.items.push({ index, json: { ...json, error: rejection(reason, message, issues) } });
	}
}

/** The fields Batch Prepare writes: never part of a content hash. */
const writtenFields = (config: PrepareConfig) => [
	config.idField,
	config.chunkField,
	config.runField,
];

/** The item's record ID (from its field, or a hash of its content), or the issue that prevents one. */
function recordIdOf(json: Json, config: PrepareConfig): { id?: string; issue?: Issue } {
	if (config.recordId.mode !== 'field')
		return { id: contentHash(json, config.recordId.fields, writtenFields(config)) };
	const raw = getPath(json, config.recordId.field);
	// The one rule for record IDs (core/record-id.ts); here a missing field is an error too.
	const resolved = resolveRecordId({ value: raw, expression: true });
	if (resolved.ok && resolved.id !== undefined) return { id: resolved.id };
	return {
		issue: {
			path: pointer(config.recordId.field),
			message: `record ID field is ${resolved.ok ? 'missing' : resolved.problem.replace(/^resolved to /, '')}: it must be a non-empty text or a number`,
			code: 'recordId',
		},
	};
}

/** Record IDs, pre-filter, validation and dedupe: the items that go on, in input order. */
function screen(
	inputs: readonly PrepareInput[],
	config: PrepareConfig,
	rejected: Rejections,
): Candidate[] {
	const seen = new Map<string, number>();
	const candidates: Candidate[] = [];
	inputs.forEach((input, index) => {
		const { id: recordId, issue } = recordIdOf(input.json, config);
		const json: Json =
			recordId === undefined ? input.json : { ...input.json, [config.idField]: recordId };
		if (input.keep === false) {
			rejected.add(index, json, 'filtered', 'Excluded by the pre-filter', [
				{ path: '/', message: 'excluded by the pre-filter', code: 'filtered' },
			]);
			return;
		}
		const issues = [
			...(issue ? [issue] : []),
			...validateItem(input.json, config.rules, config.itemSchema),
		];
		if (issues.length > 0) {
			const summary = issues.map((i) => `${i.path}: ${i.message}`).join('; ');
			rejected.add(index, json, 'invalid', `Invalid input: ${summary}`, issues);
			return;
		}
		if (config.dedupe !== 'none') {
			const key =
				config.dedupe === 'id'
					? `id:${recordId}`
					: `content:${contentHash(input.json, config.contentFields, writtenFields(config))}`;
			const first = seen.get(key);
			if (first !== undefined) {
				const what =
					config.dedupe === 'id' ? `the same record ID "${recordId}"` : 'the same content';
				rejected.add(index, json, 'duplicate', `Duplicate of input item ${first} (${what})`, [
					{
						path: config.dedupe === 'id' ? pointer(config.idField) : '/',
						message: `duplicate of input item ${first}`,
						code: 'duplicate',
					},
				]);
				return;
			}
			seen.set(key, index);
		}
		candidates.push({ index, json, tokenText: input.tokenText });
	});
	return candidates;
}

/** The sample (first N, or a seeded random N); the rest are rejected as not sampled. */
function sample(candidates: Candidate[], config: PrepareConfig, rejected: Rejections): Candidate[] {
	const s = config.sample;
	if (s.mode === 'none' || s.size >= candidates.length) return candidates;
	const positions =
		s.mode === 'first'
			? Array.from({ length: s.size }, (_, i) => i)
			: samplePositions(candidates.length, s.size, seededRandom(s.seed));
	const keep = new Set(positions);
	const how = s.mode === 'first' ? `the first ${s.size}` : `a random ${s.size} (seed ${s.seed})`;
	const chosen: Candidate[] = [];
	candidates.forEach((c, position) => {
		if (keep.has(position)) chosen.push(c);
		else
			rejected.add(c.index, c.json, 'not_sampled', `Not in the sample (${how})`, [
				{ path: '/', message: `not in the sample (${how})`, code: 'not_sampled' },
			]);
	});
	return chosen;
}

/** The Ready items: one per input with its chunk, or one per chunk holding its items. */
function readyItems(
	chosen: Candidate[],
	config: PrepareConfig,
): { ready: PreparedItem[]; chunks: number } {
	// No chunking and one output item per input: no chunk field at all.
	if (config.chunking.mode === 'none' && config.chunkOutput === 'perItem')
		return { ready: chosen.map((c) => ({ json: c.json, sources: [c.index] })), chunks: 0 };
	const groups = chunk(chosen, config.chunking, writtenFields(config));
	const count = groups.length;
	const ready: PreparedItem[] = [];
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
			return;
		}
		for (const m of group.members)
			ready.push({ json: { ...m.json, [config.chunkField]: info }, sources: [m.index] });
	});
	return { ready, chunks: count };
}

/** Runs the whole Prepare Items operation over one node run's items. */
export function prepareItems(
	inputs: readonly PrepareInput[],
	config: PrepareConfig,
	run: RunStart,
): PrepareResult {
	const rejected = new Rejections();
	const chosen = sample(screen(inputs, config, rejected), config, rejected);
	const { ready, chunks } = readyItems(chosen, config);

	// The same check as LLM Batch Call's: IDs two ready records share are one ledger record.
	const duplicates = duplicateRecordIds(
		chosen.flatMap((c) => {
			const id = c.json[config.idField];
			return typeof id === 'string' ? [id] : [];
		}),
	);
	const rejectedItems = [...rejected.items].sort((a, b) => a.index - b.index);
	const total = ready.length + rejectedItems.length;
	const stamp = (json: Json, seq: number): Json => ({
		...json,
		[config.runField]: runStamp(run, total, seq),
	});
	const readyOut = ready.map((item, seq) => ({
		json: stamp(item.json, seq),
		sources: item.sources,
	}));
	const rejectedOut = rejectedItems.map((item, k) => ({
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
			chunks,
			byReason: rejected.byReason,
			...(duplicates ? { duplicateIds: duplicates } : {}),
		},
	};
}
