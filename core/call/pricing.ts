/**
 * How a request is priced: what its answer cost (`costOf`) and the most it can cost before it
 * is sent (`maxCostOf`), each model at its own price (core/cost.ts, with the node's overrides)
 * and at the tier that answers it. The cost meter (budget.ts) prices every request through one
 * of these.
 */
import { costUsd, priceFor, type Price } from '../cost';
import type { ServiceTier, Usage } from '../types';

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
	/** The processing tier the request asks for (OpenAI `service_tier`). */
	serviceTier?: ServiceTier;
}

/**
 * The tiers an answer to a request at `tier` may be billed at: the standard one always (an
 * OpenAI-compatible server that ignores `service_tier` reports none, which is priced as
 * standard), plus the tier asked for; `auto` may land on priority when the project says so.
 */
function billableTiers(tier: ServiceTier | undefined, priorityKnown: boolean): string[] {
	if (tier === 'flex' || tier === 'priority') return ['default', tier];
	if (tier === 'auto' && priorityKnown) return ['default', 'priority'];
	return ['default'];
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
	const mostAt = (model: string, t: MaxTokens, serviceTier: string) =>
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
				serviceTier,
			},
			cost,
		);
	return {
		costOf: (model, usage) => costUsd(model, usage, cost),
		// At the dearest tier the answer may be billed at; unknown if any of them is.
		maxCostOf: (model, t) => {
			const priorityKnown = priceFor(model, overrides)?.tiers?.priority !== undefined;
			let most = 0;
			for (const tier of billableTiers(t.serviceTier, priorityKnown)) {
				const usd = mostAt(model, t, tier);
				if (usd === undefined) return undefined;
				most = Math.max(most, usd);
			}
			return most;
		},
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

/** The models of `models` whose price `pricing` does not know (at `tier`, when one is asked for). */
export function unpricedModels(
	pricing: Pricing,
	models: readonly string[],
	tier?: ServiceTier,
): string[] {
	return models.filter(
		(m) =>
			pricing.maxCostOf(m, { inputTokens: 1, outputTokens: 1, serviceTier: tier }) === undefined,
	);
}
