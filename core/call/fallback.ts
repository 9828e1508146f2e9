/**
 * The model fallback chain: an ordered list of other models (each with its own provider,
 * credential and limiter) that answer an item the primary could not — a retryable failure
 * after all its attempts, an overloaded provider (529 / 503, handed off at once), a run the
 * primary's circuit breaker stopped, a model the provider no longer serves (404
 * model_not_found mid-run: that model's run stops, its remaining items move on), or a prompt
 * larger than the primary's context window.
 * The result records which model answered (`model`, and `fallback`: its place in the chain).
 */
import type { Checkpoint } from '../ledger/types';
import type { ItemError } from '../types';
import type { BatchRunner } from './runner';
import type { Outcome, RunItem } from './types';

export interface FallbackStage {
	runner: BatchRunner;
	/** Item `index` as this model's request (its model, its context window), or why it cannot take it. */
	toItem: (index: number) => RunItem | ItemError;
}

/**
 * Records whose stored answer came from a fallback model (same identity as that model's call
 * now): their outcome, taken from the ledger before the primary claims them. What is left is
 * returned for the primary.
 */
async function storedFallbackAnswers(
	checkpoint: Pick<Checkpoint, 'lookup'>,
	items: RunItem[],
	stages: FallbackStage[],
	final: Map<number, Outcome>,
	answeredBy: number[],
): Promise<RunItem[]> {
	let left = items;
	for (const [s, stage] of stages.entries()) {
		if (left.length === 0) break;
		const built = left.map((i) => stage.toItem(i.index));
		const asked = left.flatMap((item, k) => {
			const b = built[k];
			return (b as ItemError).code === undefined
				? [{ item, recordId: (b as RunItem).recordId, promptHash: (b as RunItem).promptHash }]
				: [];
		});
		const found = await checkpoint.lookup(
			asked.map((a) => ({ recordId: a.recordId, promptHash: a.promptHash })),
		);
		const done = new Set<RunItem>();
		asked.forEach((a, k) => {
			const result = found[k];
			if (!result) return;
			final.set(a.item.index, {
				index: a.item.index,
				ok: true,
				result: { ...result, recordId: a.item.recordId, fallback: s + 1 },
			});
			answeredBy[s + 1]++;
			done.add(a.item);
		});
		left = left.filter((i) => !done.has(i));
	}
	return left;
}

/**
 * Stops that are the run's, not the model's: the next model would meet the same cap, cancel,
 * ledger, limit store or broken prompt.
 */
const RUN_STOPS: ReadonlySet<string> = new Set([
	'budget_exceeded',
	'canceled',
	'ledger_unavailable',
	'limit_store_unavailable',
	'stopped_failure_rate',
]);

/** Whether a failure on one model should go to the next one. */
export function handsOff(error: ItemError): boolean {
	// The model is gone (retired mid-run): what it answered is kept, everything else goes on.
	if (error.code === 'circuit_open' || error.code === 'model_not_found') return true;
	if (error.status === 529 || error.status === 503) return true;
	return error.retryable && !RUN_STOPS.has(error.code) && error.code !== 'malformed_output';
}

interface Pending {
	index: number;
	/** Attempts spent on earlier models. */
	attempts: number;
	error: ItemError;
}

/**
 * Runs `items` on the primary (via `run`, which may group records), then each failure that
 * hands off on the next model in order. `tooLong` are items the primary rejected before
 * any call (prompt over its context window). Every item ends as exactly one outcome, in
 * the order of `items` then `tooLong`; `answeredBy[k]` counts answers of model k (0 = primary);
 * `reused`: fallback answers taken from the ledger (below).
 * With a ledger (`checkpoint`), an answer a fallback model stored for a record in an earlier
 * run stands: the record is not sent to the primary again (its answer identity is the
 * fallback's — same model, endpoint and credential — so it answers this call as well).
 */
export async function runWithFallbacks(
	run: (runner: BatchRunner, items: RunItem[]) => Promise<Outcome[]>,
	primary: BatchRunner,
	items: RunItem[],
	stages: FallbackStage[],
	tooLong: Array<{ index: number; error: ItemError }> = [],
	checkpoint?: Pick<Checkpoint, 'lookup'>,
): Promise<{ outcomes: Outcome[]; answeredBy: number[]; reused: number }> {
	const final = new Map<number, Outcome>();
	const answeredBy = new Array<number>(stages.length + 1).fill(0);
	const todo = checkpoint
		? await storedFallbackAnswers(checkpoint, items, stages, final, answeredBy)
		: items;
	const reused = items.length - todo.length;
	const outs = await run(primary, todo);
	let next: Pending[] = [];
	for (const o of outs) {
		if (o.ok) {
			final.set(o.index, o);
			answeredBy[0]++;
		} else if (handsOff(o.error))
			next.push({ index: o.index, attempts: o.error.attempts, error: o.error });
		else final.set(o.index, o);
	}
	for (const t of tooLong) next.push({ index: t.index, attempts: 0, error: t.error });
	for (const [s, stage] of stages.entries()) {
		if (next.length === 0) break;
		const send: RunItem[] = [];
		const from: Pending[] = [];
		const carry: Pending[] = [];
		for (const n of next) {
			const built = stage.toItem(n.index);
			if ((built as ItemError).code !== undefined) {
				// This model cannot take it either; the next one may. Keep the first model's error.
				carry.push(n);
				continue;
			}
			send.push({ ...(built as RunItem), priorAttempts: n.attempts });
			from.push(n);
		}
		// The same `run` as the primary: Records per Request groups on the fallback model too.
		const results = send.length > 0 ? await run(stage.runner, send) : [];
		next = carry;
		for (const [k, o] of results.entries()) {
			if (o.ok) {
				final.set(o.index, { ...o, result: { ...o.result, fallback: s + 1 } });
				answeredBy[s + 1]++;
			} else if (handsOff(o.error))
				next.push({
					index: o.index,
					attempts: from[k].attempts + o.error.attempts,
					error: o.error,
				});
			else final.set(o.index, o);
		}
	}
	for (const n of next)
		final.set(n.index, { index: n.index, ok: false, error: { ...n.error, attempts: n.attempts } });
	const order = [...items.map((i) => i.index), ...tooLong.map((t) => t.index)];
	return { outcomes: order.map((i) => final.get(i)!), answeredBy, reused };
}
