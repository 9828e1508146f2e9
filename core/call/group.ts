/**
 * Multi-item prompts ("Records per Request"): several records share one request, the
 * shared instructions (system prompt, schema) sent once. Each record is marked with its
 * record ID and a random per-request ref; the answer is asked for as one JSON object keyed
 * by record ID whose values carry the ref back. An answer is attributed to a record only
 * when it sits under that record's ID, exactly once, and carries that record's ref (and
 * passes the schema); anything else sends the record again on its own. An answer that is
 * not a JSON object at all splits the group in two. The request's text and the split of its
 * answer: ./group-answer.ts; the counts: ./group-stats.ts.
 */
import { splitAnswer, type Group } from './group-answer';
import { groupShape, pack, type GroupOptions, type GroupShape } from './group-pack';
import { emptyGroupStats, type GroupStats } from './group-stats';
import type { BatchRunner } from './runner';
import type { Outcome, RunItem } from './types';
import type { Checkpoint } from '../ledger/types';
import type { ErrorCode, ItemError, LlmResult } from '../types';

export {
	duplicateTopLevelKeys,
	escapeRecordText,
	GROUP_INSTRUCTIONS_TEXT,
	groupPrompt,
	groupSchema,
	shareOut,
} from './group-answer';
export { addGroupStats, emptyGroupStats, formatGroupSummary, type GroupStats } from './group-stats';
export type { GroupOptions } from './group-pack';

/** The error codes that split a group (its answer was unusable) instead of failing its records. */
const SPLIT_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
	'malformed_output',
	'schema_violation',
	'content_filter',
	'truncated',
	'invalid_request',
]);

/** One call of `runGrouped`: where each record stands. */
interface GroupRun {
	readonly runner: BatchRunner;
	readonly opts: GroupOptions;
	readonly gs: GroupStats;
	readonly shape: GroupShape;
	readonly outcomeOf: Map<RunItem, Outcome>;
	/** Records to send alone, after the groups. */
	readonly alone: RunItem[];
	/** A record sent again alone is a copy carrying its share of the group: back to the input's item. */
	readonly originalOf: Map<RunItem, RunItem>;
	/** Records answered from the ledger here (the runner counts those of the records it sends alone). */
	reused: number;
}

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
	const run: GroupRun = {
		runner,
		opts,
		gs: emptyGroupStats(),
		shape: groupShape(opts),
		outcomeOf: new Map(),
		alone: [],
		originalOf: new Map(),
		reused: 0,
	};
	const pending = await storedRecords(run, items);
	let wave: RunItem[][] = [];
	for (const p of pack(pending, opts, run.shape)) {
		if (p.length === 1) run.alone.push(p[0]);
		else wave.push(p);
	}
	while (wave.length > 0) {
		if (opts.checkpoint) {
			wave = await claimWave(run, opts.checkpoint, wave);
			if (wave.length === 0) break;
		}
		wave = await sendWave(run, wave);
	}
	if (run.alone.length > 0) {
		const results = await runner.run(run.alone, { keepFlow: true });
		run.alone.forEach((item, k) => run.outcomeOf.set(run.originalOf.get(item) ?? item, results[k]));
	}
	// Every wave ran on the same flow lease; it ends with the last one.
	runner.releaseFlow();
	return { outcomes: recount(run, items), stats: run.gs };
}

/** Records whose answer the ledger holds settle here; the rest is returned to send. */
async function storedRecords(run: GroupRun, items: RunItem[]): Promise<RunItem[]> {
	const cp = run.opts.checkpoint;
	if (!cp || items.length === 0) return items;
	const known = await cp.lookup(
		items.map((i) => ({ recordId: i.recordId, promptHash: i.promptHash })),
	);
	const pending: RunItem[] = [];
	items.forEach((item, pos) => {
		const stored = known[pos];
		if (stored) {
			run.outcomeOf.set(item, fromLedger(item, stored));
			run.reused++;
		} else pending.push(item);
	});
	return pending;
}

/**
 * Each record is claimed before its group is sent, so another execution of the job never
 * sends it meanwhile: one answered there is used as is, one it holds goes to the records sent
 * alone (the runner waits for that execution's answer or lease). Returns the groups to send.
 */
async function claimWave(run: GroupRun, cp: Checkpoint, wave: RunItem[][]): Promise<RunItem[][]> {
	// Not `priorIncluded`: a grouped record carries no earlier usage (re-asks go alone), so the
	// ledger keeps what a failed record paid apart.
	const claims = await Promise.all(
		wave.map((p) => Promise.all(p.map((item) => cp.claim(item.recordId, item.promptHash)))),
	);
	return wave.flatMap((p, k) => {
		const mine = p.filter((item, n) => {
			const c = claims[k][n];
			if (c.status === 'claimed') return true;
			if (c.status === 'done') {
				run.outcomeOf.set(item, fromLedger(item, c.result));
				run.reused++;
			} else run.alone.push(item);
			return false;
		});
		if (mine.length === 1) run.alone.push(mine[0]);
		return mine.length > 1 ? [mine] : [];
	});
}

/** Sends one wave of groups; returns the halves of groups whose answer was unusable. */
async function sendWave(run: GroupRun, packs: RunItem[][]): Promise<RunItem[][]> {
	const { runner, opts, gs } = run;
	const groups = packs.map(run.shape.makeGroup);
	gs.groups += groups.length;
	const next: RunItem[][] = [];
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
			stored.set(g.run, answered(run, g, o.result));
			continue;
		}
		const records = g.members.map((m) => m.item);
		if (runner.lostClaim(g.run)) {
			// Another execution took a record over: each goes alone (the runner claims it, uses
			// that execution's answer or waits for it).
			gs.groupsUnsent++;
			run.alone.push(...records);
			continue;
		}
		if (SPLIT_CODES.has(o.error.code) && records.length > 1 && !runner.stats.stopped) {
			gs.splits++;
			const half = Math.ceil(records.length / 2);
			for (const part of [records.slice(0, half), records.slice(half)]) {
				if (part.length === 1) run.alone.push(part[0]);
				else if (part.length > 1) next.push(part);
			}
			continue;
		}
		gs.groupsFailed++;
		for (const item of records) {
			const error: ItemError = { ...o.error };
			run.outcomeOf.set(item, { index: item.index, ok: false, error });
			opts.checkpoint?.failed(item.recordId, item.promptHash, error);
		}
	}
	if (opts.checkpoint) await opts.checkpoint.flush();
	// Records sent again alone carry their share into their own result; until then (and for a
	// failed group, for good) the job budget keeps counting it with the request.
	for (const [request, share] of stored) await runner.recordGroup(request, share);
	return next;
}

/** A grouped answer split into its records; returns the share of its cost they now store. */
function answered(run: GroupRun, g: Group, result: LlmResult): number {
	const { opts, gs } = run;
	gs.groupsAnswered++;
	const split = splitAnswer(g, result, opts, gs, run.runner.meter.costOf);
	let storedUsd = 0;
	for (const [item, r] of split.accepted) {
		run.outcomeOf.set(item, { index: item.index, ok: true, result: r });
		opts.checkpoint?.succeeded(r);
		storedUsd += r.costUsd ?? 0;
	}
	for (const [original, again] of split.again) {
		run.originalOf.set(again, original);
		run.alone.push(again);
	}
	const paid = result.costUsd ?? 0;
	return opts.checkpoint && paid > 0 ? Math.min(1, storedUsd / paid) : 0;
}

/** The runner counted requests; the run's counters are about records. */
function recount(run: GroupRun, items: RunItem[]): Outcome[] {
	const s = run.runner.stats;
	// Group requests never come from the ledger: what the runner reused were records sent alone.
	const reusedAlone = s.cached;
	s.total = items.length;
	s.done = 0;
	s.succeeded = 0;
	s.failed = 0;
	s.cached = run.reused + reusedAlone;
	s.failuresByCode = {};
	return items.map((item) => {
		const o = run.outcomeOf.get(item)!;
		s.done++;
		if (o.ok) s.succeeded++;
		else {
			s.failed++;
			s.failuresByCode[o.error.code] = (s.failuresByCode[o.error.code] ?? 0) + 1;
		}
		return o;
	});
}

/** An answer the ledger already holds (stored, cached, or another execution's). */
function fromLedger(item: RunItem, stored: LlmResult): Outcome {
	return { index: item.index, ok: true, result: { ...stored, recordId: item.recordId } };
}
