/**
 * One cost table per run: what a correct answer cost, per model and in total, against what
 * the same correct answers would have cost naive, and on another model alone.
 *
 * - **Correct**: the report's `success` outcome — an answer came back (the result field is
 *   present), no error, and, when Validate Output ran, it was Valid (not Invalid, not sent to
 *   Review).
 * - **Cost**: every answered request the run paid, valid or not — a cascade's cheap answers
 *   that escalated included — summed from the items' `costUsd` (the cost meter's price of
 *   each answer, batch discount and prompt-cache prices applied), and a failure's answers
 *   that were paid but could not be used (`error.costUsd`; the error names no model, so they
 *   are one row of their own, `FAILED_ROW`). Cost per correct answer is that total over the
 *   correct answers.
 * - **Naive**: one realtime call per correct item, no prompt cache, no grouping, at the
 *   primary model's list price (the first call's model; Batch Report's Compare option can
 *   name another). Its usage is each correct answer's own: every input token at the plain
 *   input price (cache reads and writes re-priced as plain input), a grouped record's own
 *   request and answer (`soloUsage`: the shared instructions it would repeat alone, its answer
 *   without the grouped answer's keys), else the answer's output tokens; priced by the one cost meter (core/call/budget.ts `modelPricing`).
 * - **Alone** (a "compare with model"): the same usage at another model's list price — a
 *   cascade's strong-only counterfactual.
 */
import { modelPricing } from '../call/pricing';
import { round } from './format';
import type { Totals } from './totals';

export interface CostRow {
	model: string;
	/** Answers of this model the run paid for (an escalated item's cheap answer included). */
	answers: number;
	/** Correct answers this model gave (the item's final answer). */
	correct: number;
	costUsd: number;
	/** Null when the model gave no correct answer. */
	costPerCorrectUsd: number | null;
}

export interface Counterfactual {
	model: string;
	/** What the run's correct answers would have cost: one realtime call each at the model's list price. */
	costUsd: number;
	costPerCorrectUsd: number | null;
	/** Counterfactual minus this run's cost (negative: the run cost more). */
	savedUsd: number;
	/** Of the counterfactual; null when it is 0. */
	savedPct: number | null;
}

export interface CostTable {
	/** Items with the `success` outcome (see above). */
	correct: number;
	costUsd: number;
	costPerCorrectUsd: number | null;
	/** One row per model that was paid (and `FAILED_ROW`), dearest first. */
	byModel: CostRow[];
	/** Null when no correct answer or the primary model's price is unknown. */
	naive: Counterfactual | null;
	/** Present when a model to compare with was named (null: its price is unknown). */
	alone?: Counterfactual | null;
}

/** The row of failures' paid answers (their error names no model). */
export const FAILED_ROW = '(failed, paid)';

const usd = (x: number) => round(x, 8);
const perCorrect = (cost: number, correct: number) => (correct > 0 ? usd(cost / correct) : null);

/** The most frequent primary model (ties: the first seen). */
function primaryOf(t: Totals): string | undefined {
	let best: string | undefined;
	for (const [m, n] of Object.entries(t.primaryModels))
		if (best === undefined || n > t.primaryModels[best]) best = m;
	return best;
}

function counterfactual(t: Totals, model: string, cost: number): Counterfactual | null {
	if (t.outcomes.success === 0) return null;
	const priced = modelPricing().costOf(model, {
		inputTokens: t.soloInput,
		outputTokens: t.soloOutput,
	});
	if (priced === undefined) return null;
	const saved = priced - cost;
	return {
		model,
		costUsd: usd(priced),
		costPerCorrectUsd: perCorrect(priced, t.outcomes.success),
		savedUsd: usd(saved),
		savedPct: priced > 0 ? round((saved / priced) * 100, 1) : null,
	};
}

export function costTable(
	t: Totals,
	opts: { naiveModel?: string; compareModel?: string } = {},
): CostTable {
	const correct = t.outcomes.success;
	const paid = { ...t.paidByModel };
	if (t.failedPaid.items > 0)
		paid[FAILED_ROW] = { usd: t.failedPaid.usd, answers: t.failedPaid.items };
	const cost = t.cost + t.failedPaid.usd;
	const byModel = Object.entries(paid)
		.map(([model, p]) => ({
			model,
			answers: p.answers,
			correct: t.answersByModel[model] ?? 0,
			costUsd: usd(p.usd),
			costPerCorrectUsd: perCorrect(p.usd, t.answersByModel[model] ?? 0),
		}))
		.sort((a, b) => b.costUsd - a.costUsd || a.model.localeCompare(b.model));
	const naiveModel = opts.naiveModel ?? primaryOf(t);
	return {
		correct,
		costUsd: usd(cost),
		costPerCorrectUsd: perCorrect(cost, correct),
		byModel,
		naive: naiveModel === undefined ? null : counterfactual(t, naiveModel, cost),
		...(opts.compareModel ? { alone: counterfactual(t, opts.compareModel, cost) } : {}),
	};
}
