/**
 * One report per run across the retry loop: n8n runs a node once per incoming batch of
 * items, and a loop delivers a run's items in several batches. `collect` keeps a compact
 * entry per item (keyed by the run stamp Batch Prepare or Collect Results puts on every item,
 * core/run-stamp.ts) in state the node keeps for the execution, and reports a run once all
 * `batchRun.total` items of it have arrived.
 */
import type { Json } from '../paths';
import { readRunStamp } from '../run-stamp';
import { toEntry, type ReportEntry } from './entry';
import { REPORT_FIELD_DEFAULTS, type ReportFields } from './outcome';

export interface RunState {
	total: number;
	startedAt?: string;
	/** Keyed by `batchRun.seq`: an item that arrives twice counts once, the later wins. */
	entries: Record<string, ReportEntry>;
	emitted: boolean;
}

/** Lives in the node's execution context (`getContext('node')`); plain JSON. */
export interface CollectorState {
	runs?: Record<string, RunState>;
}

export interface Collected {
	/** Runs whose last item arrived now (in arrival order). */
	complete: Array<{ runId: string; startedAt?: string; entries: ReportEntry[] }>;
	/** Items without a `batchRun` stamp (no Batch Prepare upstream): reported per node run. */
	unscoped: ReportEntry[];
	/** Runs still waiting for items. */
	pending: Array<{ runId: string; seen: number; total: number }>;
	/** Items of runs already reported (arrived after their report). */
	late: number;
}

/** Moves the runs touched now that have all their items to `complete`, the rest to `pending`. */
function settle(
	runs: Record<string, RunState>,
	touched: readonly string[],
): Pick<Collected, 'complete' | 'pending'> {
	const complete: Collected['complete'] = [];
	const pending: Collected['pending'] = [];
	for (const runId of touched) {
		const run = runs[runId];
		const seen = Object.keys(run.entries).length;
		if (seen >= run.total) {
			complete.push({ runId, startedAt: run.startedAt, entries: Object.values(run.entries) });
			run.emitted = true;
			// The entries are not needed once reported; keep the execution data small.
			run.entries = {};
		} else {
			pending.push({ runId, seen, total: run.total });
		}
	}
	return { complete, pending };
}

/** Adds one node run's items to `state` (mutated) and returns the runs that are now complete. */
export function collect(
	state: CollectorState,
	items: readonly Json[],
	fields: ReportFields = REPORT_FIELD_DEFAULTS,
): Collected {
	state.runs ??= {};
	const runs = state.runs;
	const touched: string[] = [];
	const unscoped: ReportEntry[] = [];
	let late = 0;
	for (const json of items) {
		const stamp = readRunStamp(json, fields.runField);
		const entry = toEntry(json, fields);
		if (!stamp) {
			unscoped.push(entry);
			continue;
		}
		let run = runs[stamp.id];
		if (!run) {
			run = runs[stamp.id] = { total: stamp.total, entries: {}, emitted: false };
			if (typeof stamp.startedAt === 'string') run.startedAt = stamp.startedAt;
		}
		if (run.emitted) {
			late++;
			continue;
		}
		run.entries[String(stamp.seq)] = entry;
		if (!touched.includes(stamp.id)) touched.push(stamp.id);
	}
	return { ...settle(runs, touched), unscoped, late };
}
