/**
 * A report of part of a run: n8n runs a node once per incoming branch and retry round, so a
 * report per node run is a report per branch (the Review items alone read as "success rate
 * 0 %"). The node counts such node runs in its execution context and warns from the second.
 */

/** Lives in the node's execution context beside the collector's runs; plain JSON. */
export interface PartialState {
	partialReports?: number;
}

/** What a node run reported apart: every item (On Every Node Run) or the unstamped ones. */
export type PartialKind = 'eachRun' | 'unstamped';

const WHAT: Record<PartialKind, string> = {
	eachRun: 'the items of each node run',
	unstamped: 'the unstamped items of each node run',
};

/** Counts this node run's report of part of a run; the warning from the second one on. */
export function partialReportWarning(state: PartialState, kind: PartialKind): string | undefined {
	state.partialReports = (state.partialReports ?? 0) + 1;
	if (state.partialReports < 2) return undefined;
	return `Batch Report ran ${state.partialReports} times in this execution and reported ${WHAT[kind]} apart, so each report holds part of the run: several branches or retry rounds feed it. Set Emit Report to "When the Whole Run Has Arrived" and stamp the run with Batch Prepare (or Collect Results) before the LLM call, for one report of the run.`;
}
