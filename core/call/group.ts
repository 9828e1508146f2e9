/**
 * Multi-item prompts ("Records per Request"): several records share one request, the
 * shared instructions (system prompt, schema) sent once. Each record is marked with its
 * record ID and a random per-request ref; the answer is asked for as one JSON object keyed
 * by record ID whose values carry the ref back. An answer is attributed to a record only
 * when it sits under that record's ID, exactly once, and carries that record's ref (and
 * passes the schema); anything else sends the record again on its own. An answer that is
 * not a JSON object at all splits the group in two.
 */
import { randomBytes } from 'node:crypto';

import type { Checkpoint } from '../ledger/types';
import type { SchemaValidator } from '../schema';
import { estimateTokens } from '../tokens';
import type { ErrorCode, ItemError, LlmResult, Usage } from '../types';
import type { BatchRunner } from './runner';
import type { Outcome, RunItem } from './types';

export interface GroupOptions {
	/** Most records in one request (>= 2 to group at all). */
	readonly recordsPerRequest: number;
	/** Most estimated record tokens in one request; 0 = no token budget. */
	readonly maxTokensPerRequest: number;
	/** Structured output: each record's answer must match this schema. */
	readonly schema?: Record<string, unknown>;
	readonly validate?: SchemaValidator;
	/** Largest max output tokens a grouped request asks for. @default 16384 */
	readonly maxOutputTokens?: number;
	/**
	 * The model's context window (input + output tokens): a request is closed before its
	 * estimated prompt plus max output tokens would pass it, so records too long for another
	 * model's window (handed down the fallback chain) are grouped as far as this one's allows.
	 * 0 = no check. @default 0
	 */
	readonly contextWindow?: number;
	readonly checkpoint?: Checkpoint;
	/** A ref per record and request (tests pass a counter). @default 4 random bytes */
	readonly ref?: () => string;
}

/** What became of the records sent in groups (for the hint and the bench). */
export interface GroupStats {
	/** Grouped requests made: `groupsAnswered + splits + groupsFailed + groupsUnsent`. */
	groups: number;
	/** Grouped requests whose answer was split into records. */
	groupsAnswered: number;
	/** Grouped requests that ended failed: their records failed (or went to the next model). */
	groupsFailed: number;
	/** Grouped requests not sent: another execution of the job took over one of their records. */
	groupsUnsent: number;
	/** Records answered from a grouped request. */
	answered: number;
	/** Records sent again alone, by reason. */
	alone: Record<'missing' | 'duplicated' | 'mismatched' | 'invalid', number>;
	/** Keys in answers that named no record of the request (ignored). */
	unsentIds: number;
	/** Groups whose answer could not be used at all and were split. */
	splits: number;
}

export const GROUP_INSTRUCTIONS_TEXT =
	'You will receive several records, each in a <record id="…" ref="…"> block. Answer each record on its own, exactly as if it were the only one: the instructions above apply to every record. Return one JSON object with one key per record ID; its value is {"ref": the ref of that record, "answer": the answer for that record}. Answer every record exactly once and use no other keys.';

/** Escapes the closing tag inside a record so a record cannot end its block early. */
export function escapeRecordText(text: string): string {
	return text.replace(/<\/record>/gi, '<\\/record>');
}

/** The user message of a grouped request. */
export function groupPrompt(records: Array<{ id: string; ref: string; text: string }>): string {
	return records
		.map(
			(r) =>
				`<record id=${JSON.stringify(r.id)} ref="${r.ref}">\n${escapeRecordText(r.text)}\n</record>`,
		)
		.join('\n');
}

/**
 * JSON Schema of a grouped answer: an object whose every value is `{ ref, answer }`. The
 * record IDs are not in it, so the schema (a tool, for Anthropic) is the same for every
 * group and stays in the cached prefix; which IDs must be there is checked on the answer.
 */
export function groupSchema(
	recordSchema: Record<string, unknown> | undefined,
): Record<string, unknown> {
	return {
		type: 'object',
		additionalProperties: {
			type: 'object',
			properties: { ref: { type: 'string' }, answer: recordSchema ?? { type: 'string' } },
			required: ['ref', 'answer'],
			additionalProperties: false,
		},
	};
}

/**
 * Keys that occur more than once at the top level of a JSON object text (JSON.parse keeps
 * the last one silently). One pass over the text, strings and nesting skipped.
 */
export function duplicateTopLevelKeys(text: string): Set<string> {
	const seen = new Set<string>();
	const dup = new Set<string>();
	let depth = 0;
	let expectKey = false;
	for (let i = 0; i < text.length; i++) {
		const c = text[i];
		if (c === '"') {
			let j = i + 1;
			while (j < text.length && text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
			if (depth === 1 && expectKey) {
				let key: string;
				try {
					key = JSON.parse(text.slice(i, j + 1)) as string;
				} catch {
					key = text.slice(i + 1, j);
				}
				if (seen.has(key)) dup.add(key);
				seen.add(key);
				expectKey = false;
			}
			i = j;
		} else if (c === '{' || c === '[') {
			depth++;
			if (depth === 1 && c === '{') expectKey = true;
		} else if (c === '}' || c === ']') depth--;
		else if (c === ',' && depth === 1) expectKey = true;
	}
	return dup;
}

/**
 * Integer shares of `total` by `weights` that add up to `total` exactly (largest
 * remainder); equal shares when every weight is 0.
 */
export function shareOut(total: number, weights: number[]): number[] {
	const n = weights.length;
	if (n === 0) return [];
	const sum = weights.reduce((a, b) => a + b, 0);
	const w = sum > 0 ? weights : weights.map(() => 1);
	const wsum = sum > 0 ? sum : n;
	const exact = w.map((x) => (total * x) / wsum);
	const out = exact.map(Math.floor);
	let rest = total - out.reduce((a, b) => a + b, 0);
	const order = exact.map((x, i) => [x - Math.floor(x), i] as const).sort((a, b) => b[0] - a[0]);
	for (let k = 0; rest > 0; k = (k + 1) % n, rest--) out[order[k][1]]++;
	return out;
}

function splitUsage(usage: Usage, inputWeights: number[], outputWeights: number[]): Usage[] {
	const input = shareOut(usage.inputTokens, inputWeights);
	const output = shareOut(usage.outputTokens, outputWeights);
	const cached = shareOut(usage.cachedInputTokens ?? 0, inputWeights);
	const write = shareOut(usage.cacheWriteTokens ?? 0, inputWeights);
	const write1h = shareOut(usage.cacheWrite1hTokens ?? 0, inputWeights);
	return input.map((inputTokens, i) => {
		const u: Usage = { inputTokens, outputTokens: output[i] };
		if (cached[i] > 0) u.cachedInputTokens = Math.min(cached[i], inputTokens);
		if (write[i] > 0) u.cacheWriteTokens = Math.min(write[i], inputTokens);
		if (write1h[i] > 0) u.cacheWrite1hTokens = write1h[i];
		return u;
	});
}

interface Member {
	item: RunItem;
	ref: string;
}

interface Group {
	members: Member[];
	run: RunItem;
}

const recordTokens = (item: RunItem) => Math.ceil(item.request.prompt.length / 4) + 12;

/** The error codes that split a group (its answer was unusable) instead of failing its records. */
const SPLIT_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
	'malformed_output',
	'schema_violation',
	'content_filter',
	'truncated',
	'invalid_request',
]);

/**
 * Runs `items` through `runner`, grouping records per request as `opts` says; every item
 * ends as exactly one outcome (same order as `items`). Records whose grouped answer cannot
 * be attributed beyond doubt are sent again alone.
 */
export async function runGrouped(
	runner: BatchRunner,
	items: RunItem[],
	opts: GroupOptions,
): Promise<{ outcomes: Outcome[]; stats: GroupStats }> {
	const gs = emptyGroupStats();
	const outcomeOf = new Map<RunItem, Outcome>();
	const ref = opts.ref ?? (() => randomBytes(4).toString('hex'));
	let pending = items;
	// Records answered from the ledger here (the runner counts those of the records it sends alone).
	let reused = 0;

	if (opts.checkpoint && items.length > 0) {
		const known = await opts.checkpoint.lookup(
			items.map((i) => ({ recordId: i.recordId, promptHash: i.promptHash })),
		);
		pending = [];
		items.forEach((item, pos) => {
			const stored = known[pos];
			if (stored) {
				outcomeOf.set(item, fromLedger(item, stored));
				reused++;
			} else pending.push(item);
		});
	}

	let seq = 0;
	const outputTokens = (sumMaxTokens: number) =>
		Math.min(opts.maxOutputTokens ?? 16_384, sumMaxTokens);
	const windowTokens = opts.contextWindow ?? 0;
	const schemaTokens = estimateTokens(JSON.stringify(groupSchema(opts.schema)));
	// What a grouped request costs besides its records: the system prompt with the group
	// instructions, the answer schema (providers count it as input), the request's framing.
	const groupSystem = (first: RunItem['request']) =>
		`${first.system ? `${first.system}\n\n` : ''}${GROUP_INSTRUCTIONS_TEXT}`;
	const sharedTokens = (first: RunItem) =>
		Math.ceil(groupSystem(first.request).length / 4) + schemaTokens + 8;
	const makeGroup = (members: RunItem[]): Group => {
		const first = members[0].request;
		const m = members.map((item) => ({ item, ref: ref() }));
		const prompt = groupPrompt(
			m.map((x) => ({ id: x.item.recordId, ref: x.ref, text: x.item.request.prompt })),
		);
		const system = groupSystem(first);
		const maxTokens = outputTokens(members.reduce((a, i) => a + i.request.maxTokens, 0));
		// Estimated as a single record's prompt is (core/call/input.ts), the answer schema
		// included: the limiter charges it and the cost meter reserves it at its most.
		const inputTokens = estimateTokens(`${system}\n${prompt}`) + schemaTokens + 8;
		const run: RunItem = {
			index: -1 - seq,
			recordId: `group:${seq++}`,
			request: { ...first, system, prompt, schema: groupSchema(opts.schema), maxTokens },
			inputTokens,
			promptHash: '',
			cachePrefixTokens: members[0].cachePrefixTokens,
			group: true,
			...(opts.checkpoint
				? {
						members: members.map((i) => ({ recordId: i.recordId, promptHash: i.promptHash })),
					}
				: {}),
		};
		return { members: m, run };
	};

	// Pack consecutive records with the same system prompt, by count and token budget; a
	// record ID already in the group (duplicate IDs in the input) starts a new one.
	const packs: RunItem[][] = [];
	let cur: RunItem[] = [];
	let curTokens = 0;
	let curMaxTokens = 0;
	let ids = new Set<string>();
	const close = () => {
		if (cur.length > 0) packs.push(cur);
		cur = [];
		curTokens = 0;
		curMaxTokens = 0;
		ids = new Set();
	};
	for (const item of pending) {
		// A re-ask fed from the workflow is a conversation of its own (its earlier answer and
		// what was wrong with it): sent alone, never as a group's follow-up turn.
		if (item.request.followUp) {
			packs.push([item]);
			continue;
		}
		const t = recordTokens(item);
		if (
			cur.length > 0 &&
			(cur.length >= opts.recordsPerRequest ||
				(opts.maxTokensPerRequest > 0 && curTokens + t > opts.maxTokensPerRequest) ||
				(windowTokens > 0 &&
					sharedTokens(cur[0]) +
						curTokens +
						t +
						outputTokens(curMaxTokens + item.request.maxTokens) >
						windowTokens) ||
				ids.has(item.recordId) ||
				cur[0].request.system !== item.request.system)
		)
			close();
		cur.push(item);
		curTokens += t;
		curMaxTokens += item.request.maxTokens;
		ids.add(item.recordId);
	}
	close();

	const alone: RunItem[] = [];
	// A record sent again alone is a copy carrying its share of the group: back to the input's item.
	const originalOf = new Map<RunItem, RunItem>();
	let wave: RunItem[][] = [];
	for (const p of packs) {
		if (p.length === 1) alone.push(p[0]);
		else wave.push(p);
	}

	while (wave.length > 0) {
		// Each record is claimed before its group is sent, so another execution of the job
		// never sends it meanwhile: one answered there is used as is, one it holds goes to
		// the records sent alone (the runner waits for that execution's answer or lease).
		if (opts.checkpoint) {
			const cp = opts.checkpoint;
			// Not `priorIncluded`: a grouped record carries no earlier usage (re-asks go alone),
			// so the ledger keeps what a failed record paid apart.
			const claims = await Promise.all(
				wave.map((p) => Promise.all(p.map((item) => cp.claim(item.recordId, item.promptHash)))),
			);
			wave = wave.flatMap((p, k) => {
				const mine = p.filter((item, n) => {
					const c = claims[k][n];
					if (c.status === 'claimed') return true;
					if (c.status === 'done') {
						outcomeOf.set(item, fromLedger(item, c.result));
						reused++;
					} else alone.push(item);
					return false;
				});
				if (mine.length === 1) alone.push(mine[0]);
				return mine.length > 1 ? [mine] : [];
			});
			if (wave.length === 0) break;
		}
		const groups = wave.map(makeGroup);
		gs.groups += groups.length;
		wave = [];
		const results = await runner.run(
			groups.map((g) => g.run),
			{ keepFlow: true },
		);
		// How much of each grouped request's cost its records' stored results now carry.
		const stored = new Map<RunItem, number>();
		for (let k = 0; k < groups.length; k++) {
			const g = groups[k];
			const o = results[k];
			stored.set(g.run, 0);
			if (o.ok) {
				gs.groupsAnswered++;
				const split = splitAnswer(g, o.result, opts, gs, runner.meter.costOf);
				let storedUsd = 0;
				for (const [item, r] of split.accepted) {
					outcomeOf.set(item, { index: item.index, ok: true, result: r });
					opts.checkpoint?.succeeded(r);
					storedUsd += r.costUsd ?? 0;
				}
				const paid = o.result.costUsd ?? 0;
				if (opts.checkpoint && paid > 0) stored.set(g.run, Math.min(1, storedUsd / paid));
				for (const [original, again] of split.again) {
					originalOf.set(again, original);
					alone.push(again);
				}
				continue;
			}
			const records = g.members.map((m) => m.item);
			if (runner.lostClaim(g.run)) {
				// Another execution took a record over: each goes alone (the runner claims it,
				// uses that execution's answer or waits for it).
				gs.groupsUnsent++;
				alone.push(...records);
				continue;
			}
			if (SPLIT_CODES.has(o.error.code) && records.length > 1 && !runner.stats.stopped) {
				gs.splits++;
				const half = Math.ceil(records.length / 2);
				for (const part of [records.slice(0, half), records.slice(half)]) {
					if (part.length === 1) alone.push(part[0]);
					else if (part.length > 1) wave.push(part);
				}
				continue;
			}
			gs.groupsFailed++;
			for (const item of records) {
				const error: ItemError = { ...o.error };
				outcomeOf.set(item, { index: item.index, ok: false, error });
				opts.checkpoint?.failed(item.recordId, item.promptHash, error);
			}
		}
		if (opts.checkpoint) await opts.checkpoint.flush();
		// Records sent again alone carry their share into their own result; until then (and for
		// a failed group, for good) the job budget keeps counting it with the request.
		for (const [run, share] of stored) await runner.recordGroup(run, share);
	}

	if (alone.length > 0) {
		const results = await runner.run(alone, { keepFlow: true });
		alone.forEach((item, k) => outcomeOf.set(originalOf.get(item) ?? item, results[k]));
	}

	// Every wave ran on the same flow lease; it ends with the last one.
	runner.releaseFlow();
	// The runner counted requests; the run's counters are about records.
	const s = runner.stats;
	// Group requests never come from the ledger: what the runner reused were records sent alone.
	const reusedAlone = s.cached;
	s.total = items.length;
	s.done = 0;
	s.succeeded = 0;
	s.failed = 0;
	s.cached = reused + reusedAlone;
	s.failuresByCode = {};
	const outcomes = items.map((item) => {
		const o = outcomeOf.get(item)!;
		s.done++;
		if (o.ok) s.succeeded++;
		else {
			s.failed++;
			s.failuresByCode[o.error.code] = (s.failuresByCode[o.error.code] ?? 0) + 1;
		}
		return o;
	});
	return { outcomes, stats: gs };
}

export function emptyGroupStats(): GroupStats {
	return {
		groups: 0,
		groupsAnswered: 0,
		groupsFailed: 0,
		groupsUnsent: 0,
		answered: 0,
		alone: { missing: 0, duplicated: 0, mismatched: 0, invalid: 0 },
		unsentIds: 0,
		splits: 0,
	};
}

/** The grouped requests of several runs (one model's waves, or a model's second run). */
export function addGroupStats(a: GroupStats, b: GroupStats): GroupStats {
	return {
		groups: a.groups + b.groups,
		groupsAnswered: a.groupsAnswered + b.groupsAnswered,
		groupsFailed: a.groupsFailed + b.groupsFailed,
		groupsUnsent: a.groupsUnsent + b.groupsUnsent,
		answered: a.answered + b.answered,
		alone: {
			missing: a.alone.missing + b.alone.missing,
			duplicated: a.alone.duplicated + b.alone.duplicated,
			mismatched: a.alone.mismatched + b.alone.mismatched,
			invalid: a.alone.invalid + b.alone.invalid,
		},
		unsentIds: a.unsentIds + b.unsentIds,
		splits: a.splits + b.splits,
	};
}

/**
 * The run summary's part on grouping: per model (named when there are several), the grouped
 * requests made and what became of them — answered (and the records answered from them),
 * failed, split after an unusable answer, not sent — which add up to the requests made; then
 * the records sent again alone. Models that made no grouped request are left out.
 */
export function formatGroupSummary(
	byModel: ReadonlyArray<{ model: string; stats: GroupStats }>,
): string {
	const used = byModel.filter((m) => m.stats.groups > 0);
	const part = (g: GroupStats) => {
		const out = [
			`${g.groups} sent`,
			`${g.groupsAnswered} answered (${g.answered} record${g.answered === 1 ? '' : 's'})`,
		];
		if (g.groupsFailed > 0) out.push(`${g.groupsFailed} failed`);
		if (g.splits > 0) out.push(`${g.splits} split (answer unusable)`);
		if (g.groupsUnsent > 0) out.push(`${g.groupsUnsent} not sent (record taken over)`);
		return out.join(', ');
	};
	const again = used.reduce(
		(a, m) => a + Object.values(m.stats.alone).reduce((x, y) => x + y, 0),
		0,
	);
	const requests =
		byModel.length > 1
			? used.map((m) => `${m.model} ${part(m.stats)}`).join('; ')
			: used.map((m) => part(m.stats)).join('');
	return `grouped requests: ${requests || 'none'}; ${again} record${again === 1 ? '' : 's'} sent again alone`;
}

/** An answer the ledger already holds (stored, cached, or another execution's). */
function fromLedger(item: RunItem, stored: LlmResult): Outcome {
	return { index: item.index, ok: true, result: { ...stored, recordId: item.recordId } };
}

/** Splits one grouped answer into per-record results; records not answered beyond doubt go `again`. */
function splitAnswer(
	g: Group,
	result: LlmResult,
	opts: GroupOptions,
	gs: GroupStats,
	costOf: (model: string, usage: Usage) => number | undefined,
): { accepted: Array<[RunItem, LlmResult]>; again: Array<[RunItem, RunItem]> } {
	const answer = result.output as Record<string, unknown>;
	const dups = duplicateTopLevelKeys(result.text);
	const sent = new Set(g.members.map((m) => m.item.recordId));
	for (const key of Object.keys(answer)) if (!sent.has(key)) gs.unsentIds++;

	type Verdict =
		| { ok: true; value: unknown; chars: number }
		| { ok: false; reason: keyof GroupStats['alone'] };
	const verdicts: Verdict[] = g.members.map(({ item, ref }) => {
		const id = item.recordId;
		if (!Object.hasOwn(answer, id)) return { ok: false, reason: 'missing' };
		if (dups.has(id)) return { ok: false, reason: 'duplicated' };
		const v = answer[id] as { ref?: unknown; answer?: unknown } | null;
		if (!v || typeof v !== 'object' || v.ref !== ref || !('answer' in v))
			return { ok: false, reason: 'mismatched' };
		if (opts.schema) {
			const issues = opts.validate?.(v.answer);
			if (issues && issues.length > 0) return { ok: false, reason: 'invalid' };
		} else if (typeof v.answer !== 'string') return { ok: false, reason: 'invalid' };
		return { ok: true, value: v.answer, chars: JSON.stringify(v.answer).length };
	});
	const shares = splitUsage(
		result.usage,
		g.members.map((m) => recordTokens(m.item)),
		verdicts.map((v) => (v.ok ? v.chars : 0)),
	);
	const accepted: Array<[RunItem, LlmResult]> = [];
	const again: Array<[RunItem, RunItem]> = [];
	g.members.forEach(({ item }, i) => {
		const v = verdicts[i];
		const usage = shares[i];
		if (!v.ok) {
			gs.alone[v.reason]++;
			// Its share of the grouped request is paid: it joins the record's own result.
			again.push([item, { ...item, priorUsage: usage, priorAttempts: result.attempts }]);
			return;
		}
		gs.answered++;
		accepted.push([
			item,
			{
				recordId: item.recordId,
				output: v.value,
				text: typeof v.value === 'string' ? v.value : JSON.stringify(v.value),
				model: result.model,
				provider: result.provider,
				finishReason: result.finishReason,
				usage,
				costUsd: costOf(g.run.request.model, usage),
				attempts: result.attempts,
				latencyMs: result.latencyMs,
				cached: false,
				promptHash: item.promptHash,
				...(item.inputHash === undefined ? {} : { inputHash: item.inputHash }),
				completedAt: result.completedAt,
				groupSize: g.members.length,
			},
		]);
	});
	return { accepted, again };
}
