/**
 * How a request is priced: what its answer cost (`costOf`) and the most it can cost before it
 * is sent (`maxCostOf`), each model at its own price (core/cost.ts, with the node's overrides).
 * The cost meter (budget.ts) prices every request through one of these.
 */
import { costUsd, type Price } from '../cost';
import type { Usage } from '../types';

/** How requests are priced. */
export interface Pricing {
	/** USD of `usage` on `model`; undefined when its price is unknown. */
	costOf(model: string, usage: Usage): number | undefined;
	/**
	 * The most a request can cost: every prompt token at the dearest rate it may be billed at
	 * (a prompt-cache write when the request asks for caching) plus `outputTokens`.
	 */
	maxCostOf(model: string, tokens: MaxTokens): number | undefined;
}

export interface MaxTokens {
	inputTokens: number;
	outputTokens: number;
	/** The request asks for prompt caching with this TTL: its prompt may be a cache write. */
	cacheWrite?: '5m' | '1h';
}

/**
 * Prices from the table, with `overrides` for the models they name (see `priceFor`);
 * `batch`: at the provider's batch-API rate (the model price × its batch discount).
 */
export function modelPricing(
	overrides: Readonly<Record<string, Price>> = {},
	opts: { batch?: boolean } = {},
): Pricing {
	const cost = { overrides, batch: opts.batch === true };
	return {
		costOf: (model, usage) => costUsd(model, usage, cost),
		maxCostOf: (model, t) =>
			costUsd(
				model,
				{
					inputTokens: t.inputTokens,
					outputTokens: t.outputTokens,
					...(t.cacheWrite
						? {
								cacheWriteTokens: t.inputTokens,
								cacheWrite1hTokens: t.cacheWrite === '1h' ? t.inputTokens : 0,
							}
						: {}),
				},
				cost,
			),
	};
}

/** Pricing by a cost function alone (tests, callers with their own prices): the most is its cost. */
export function functionPricing(
	costOf: (model: string, usage: Usage) => number | undefined,
): Pricing {
	return {
		costOf,
		maxCostOf: (model, t) =>
			costOf(model, { inputTokens: t.inputTokens, outputTokens: t.outputTokens }),
	};
}

/** The models of `models` whose price `pricing` does not know. */
export function unpricedModels(pricing: Pricing, models: readonly string[]): string[] {
	return models.filter((m) => pricing.costOf(m, { inputTokens: 1, outputTokens: 1 }) === undefined);
}
