/**
 * One row of the cost-levers bench (bench/cost-levers.ts prints every scenario's rows side by
 * side): a composition of cost levers against its naive baseline, per provider, priced from
 * the usage the sandbox billed.
 */
export interface CostLeverRow {
	scenario: string;
	provider: string;
	/** Records in the run. */
	items: number;
	/** Records answered correctly (each its own expected answer). */
	correct: number;
	/** Records that came out with another record's answer. */
	misattributed: number;
	/** What the composition cost (USD), from the sandbox's billed usage. */
	costUsd: number;
	/** What the naive baseline cost on the same records (USD). */
	baselineUsd: number;
	/** Cost per correct answer of the composition / the baseline's. */
	ratio: number;
	/** The target, as the issue words it (e.g. `≤ 25 % of naive`). */
	target: string;
	met: boolean;
	note?: string;
}
