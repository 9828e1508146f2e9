/**
 * The price table and cost arithmetic.
 *
 * Prices are USD per 1M tokens from the providers' public pricing pages (standard tier,
 * no prompt caching, short-context rates). They change; update `PRICES` and `pricesAsOf`
 * together, and let users override single models from the node (`overrides`) rather than
 * waiting for a release.
 */

export interface Price {
	/** USD per 1M input (prompt) tokens. */
	inputPer1M: number;
	/** USD per 1M output (completion) tokens. */
	outputPer1M: number;
	/**
	 * Multiplier on both prices under the provider's batch API (0.5 = half price).
	 * Absent when the provider has no batch API for the model.
	 */
	batchDiscount?: number;
	/** USD per 1M input tokens read from the prompt cache. Absent: the input price. */
	cachedInputPer1M?: number;
	/** USD per 1M tokens written to the cache with the 5-minute TTL. Absent: the input price. */
	cacheWritePer1M?: number;
	/** USD per 1M tokens written with the 1-hour TTL. Absent: `cacheWritePer1M`. */
	cacheWrite1hPer1M?: number;
	/**
	 * OpenAI's processing tiers the model is offered at, each at its own price. Absent: the
	 * model is not offered at that tier (or its price there is unknown), so an answer billed at
	 * it has no known price — never the standard price by default.
	 */
	tiers?: Partial<Record<PricedTier, TierPrice>>;
}

/** The tiers priced apart from the standard price. */
export type PricedTier = 'flex' | 'priority';

/** A tier's own price (USD per 1M tokens). */
export interface TierPrice {
	inputPer1M: number;
	outputPer1M: number;
	/** Absent: the tier's input price. */
	cachedInputPer1M?: number;
}

/** The date the table below was last checked against the providers' pricing pages. */
export const pricesAsOf = '2025-11-01';

const OPENAI_BATCH = 0.5;
const ANTHROPIC_BATCH = 0.5;

/** OpenAI: cached input at the model's cached price (a fixed share of input, by generation); no write premium. */
function openai(
	inputPer1M: number,
	outputPer1M: number,
	cachedInputPer1M?: number,
	tiers?: Price['tiers'],
): Price {
	return {
		inputPer1M,
		outputPer1M,
		batchDiscount: OPENAI_BATCH,
		...(cachedInputPer1M !== undefined ? { cachedInputPer1M } : {}),
		...(tiers ? { tiers } : {}),
	};
}

/**
 * Flex processing is billed at the model's batch price (OpenAI's pricing page lists the same
 * figures): every rate of the standard price times the batch discount.
 */
function flexAtBatchPrice(inputPer1M: number, outputPer1M: number, cachedInputPer1M?: number) {
	const flex: TierPrice = {
		inputPer1M: inputPer1M * OPENAI_BATCH,
		outputPer1M: outputPer1M * OPENAI_BATCH,
		...(cachedInputPer1M !== undefined
			? { cachedInputPer1M: cachedInputPer1M * OPENAI_BATCH }
			: {}),
	};
	return flex;
}

/** A model OpenAI offers at flex (batch price) and, where its priority price is listed, priority. */
function openaiTiers(
	inputPer1M: number,
	outputPer1M: number,
	cachedInputPer1M: number,
	priority?: TierPrice,
): Price {
	return openai(inputPer1M, outputPer1M, cachedInputPer1M, {
		flex: flexAtBatchPrice(inputPer1M, outputPer1M, cachedInputPer1M),
		...(priority ? { priority } : {}),
	});
}

/** A model OpenAI offers at priority (not at flex). */
function openaiPriority(
	inputPer1M: number,
	outputPer1M: number,
	cachedInputPer1M: number,
	priority: TierPrice,
): Price {
	return openai(inputPer1M, outputPer1M, cachedInputPer1M, { priority });
}
/** Anthropic's caching rules on any input price: reads 0.1x, 5-minute writes 1.25x, 1-hour writes 2x. */
export function anthropicCachePrices(inputPer1M: number): Partial<Price> {
	return {
		cachedInputPer1M: inputPer1M / 10,
		cacheWritePer1M: inputPer1M * 1.25,
		cacheWrite1hPer1M: inputPer1M * 2,
	};
}
function anthropic(inputPer1M: number, outputPer1M: number): Price {
	return {
		inputPer1M,
		outputPer1M,
		batchDiscount: ANTHROPIC_BATCH,
		...anthropicCachePrices(inputPer1M),
	};
}

const GEMINI_BATCH = 0.5;

/**
 * Google Gemini (paid tier, prompts up to 200k tokens where the price steps up above): cached
 * input at the model's context-caching price (implicit cache hits are billed the same); no
 * write premium (explicit caches bill storage per hour, outside a request). The Batch API
 * bills half of every rate.
 */
function gemini(inputPer1M: number, outputPer1M: number, cachedInputPer1M?: number): Price {
	return {
		inputPer1M,
		outputPer1M,
		batchDiscount: GEMINI_BATCH,
		...(cachedInputPer1M !== undefined ? { cachedInputPer1M } : {}),
	};
}

/** Known models, keyed by their undated id (lower case). */
export const PRICES: Readonly<Record<string, Price>> = Object.freeze({
	// OpenAI
	// Flex: gpt-5 family, o3, o4-mini (at their batch price). Priority where OpenAI lists it.
	'gpt-5': openaiTiers(1.25, 10, 0.125, {
		inputPer1M: 2.5,
		outputPer1M: 20,
		cachedInputPer1M: 0.25,
	}),
	'gpt-5-mini': openaiTiers(0.25, 2, 0.025, {
		inputPer1M: 0.45,
		outputPer1M: 3.6,
		cachedInputPer1M: 0.045,
	}),
	'gpt-5-nano': openaiTiers(0.05, 0.4, 0.005),
	'gpt-5.1': openaiTiers(1.25, 10, 0.125, {
		inputPer1M: 2.5,
		outputPer1M: 20,
		cachedInputPer1M: 0.25,
	}),
	'gpt-4.1': openaiPriority(2, 8, 0.5, {
		inputPer1M: 3.5,
		outputPer1M: 14,
		cachedInputPer1M: 0.875,
	}),
	'gpt-4.1-mini': openaiPriority(0.4, 1.6, 0.1, {
		inputPer1M: 0.7,
		outputPer1M: 2.8,
		cachedInputPer1M: 0.175,
	}),
	'gpt-4.1-nano': openaiPriority(0.1, 0.4, 0.025, {
		inputPer1M: 0.2,
		outputPer1M: 0.8,
		cachedInputPer1M: 0.05,
	}),
	'gpt-4o': openaiPriority(2.5, 10, 1.25, {
		inputPer1M: 4.25,
		outputPer1M: 17,
		cachedInputPer1M: 2.125,
	}),
	'gpt-4o-mini': openaiPriority(0.15, 0.6, 0.075, {
		inputPer1M: 0.25,
		outputPer1M: 1,
		cachedInputPer1M: 0.125,
	}),
	'chatgpt-4o-latest': { inputPer1M: 5, outputPer1M: 15 },
	'gpt-4-turbo': openai(10, 30),
	'gpt-4': openai(30, 60),
	'gpt-3.5-turbo': openai(0.5, 1.5),
	o1: openai(15, 60, 7.5),
	'o1-mini': openai(1.1, 4.4, 0.55),
	'o1-pro': openai(150, 600),
	o3: openaiTiers(2, 8, 0.5, { inputPer1M: 3.5, outputPer1M: 14, cachedInputPer1M: 0.875 }),
	'o3-mini': openai(1.1, 4.4, 0.55),
	'o3-pro': openai(20, 80),
	'o4-mini': openaiTiers(1.1, 4.4, 0.275, { inputPer1M: 2, outputPer1M: 8, cachedInputPer1M: 0.5 }),
	'text-embedding-3-small': openai(0.02, 0),
	'text-embedding-3-large': openai(0.13, 0),
	// Anthropic
	'claude-opus-4-5': anthropic(5, 25),
	'claude-opus-4-1': anthropic(15, 75),
	'claude-opus-4': anthropic(15, 75),
	'claude-sonnet-4-5': anthropic(3, 15),
	'claude-sonnet-4': anthropic(3, 15),
	'claude-haiku-4-5': anthropic(1, 5),
	'claude-3-7-sonnet': anthropic(3, 15),
	'claude-3-5-sonnet': anthropic(3, 15),
	'claude-3-5-haiku': anthropic(0.8, 4),
	'claude-3-opus': anthropic(15, 75),
	'claude-3-haiku': anthropic(0.25, 1.25),
	// Google Gemini
	'gemini-3-pro-preview': gemini(2, 12, 0.2),
	'gemini-2.5-pro': gemini(1.25, 10, 0.125),
	'gemini-2.5-flash': gemini(0.3, 2.5, 0.03),
	'gemini-2.5-flash-lite': gemini(0.1, 0.4, 0.01),
	'gemini-2.0-flash': gemini(0.1, 0.4, 0.025),
	'gemini-2.0-flash-lite': gemini(0.075, 0.3),
});

// `-2024-07-18` (OpenAI), `-20241022` (Anthropic), `-latest` (Anthropic aliases).
const DATE_SUFFIX = /-(\d{4}-\d{2}-\d{2}|\d{8}|latest)$/;

function normalise(model: string): string {
	const lower = model.trim().toLowerCase();
	const slash = lower.lastIndexOf('/');
	return slash >= 0 ? lower.slice(slash + 1) : lower;
}

function lookup(table: Readonly<Record<string, Price>>, model: string): Price | undefined {
	const name = normalise(model);
	if (Object.hasOwn(table, name)) return table[name];
	const undated = name.replace(DATE_SUFFIX, '');
	if (Object.hasOwn(table, undated)) return table[undated];
	// Longest known prefix ending at a `-` boundary, so `gpt-4o-mini-search` prices as
	// `gpt-4o-mini` while `gpt-4o` never prices as `gpt-4`.
	let best: string | undefined;
	for (const key of Object.keys(table)) {
		if (undated.startsWith(`${key}-`) && (best === undefined || key.length > best.length))
			best = key;
	}
	return best === undefined ? undefined : table[best];
}

/**
 * The price of `model`: exact id, then the id without a date suffix, then the longest
 * known prefix. Case and a `provider/` prefix are ignored. Undefined when unknown.
 *
 * An override is the price of the model it names (or that model's dated ids), never of
 * another model that merely starts with its name: a local model's price 0 must not price a
 * cloud model of the chain, and an unknown model is unknown, not priced like its namesake.
 */
export function priceFor(
	model: string,
	overrides?: Readonly<Record<string, Price>>,
): Price | undefined {
	if (overrides) {
		const own: Record<string, Price> = {};
		for (const [key, price] of Object.entries(overrides)) own[normalise(key)] = price;
		const name = normalise(model);
		if (Object.hasOwn(own, name)) return own[name];
		const undated = name.replace(DATE_SUFFIX, '');
		if (Object.hasOwn(own, undated)) return own[undated];
	}
	return lookup(PRICES, model);
}

export interface CostOptions {
	/**
	 * Price at the provider's batch-API rate. Models without a batch discount keep their
	 * realtime price.
	 * @default false
	 */
	readonly batch?: boolean;
	/** Per-model prices that win over the table (same lookup rules). */
	readonly overrides?: Readonly<Record<string, Price>>;
}

/**
 * The rates `usage` is billed at: the tier it reports (`usage.serviceTier`) at that tier's own
 * price — undefined when the model has none, so a flex answer of a model without a flex price
 * is unpriced rather than priced at the standard rate — else the standard price. The batch
 * API has no tiers: its discount applies to the standard price.
 */
export function ratesFor(
	price: Price,
	tier: string | undefined,
	batch: boolean,
): Price | undefined {
	if (batch || tier === undefined || tier === 'default' || tier === 'auto') return price;
	if (tier !== 'flex' && tier !== 'priority') return price; // e.g. `scale`: prepaid capacity
	const t = price.tiers?.[tier];
	if (!t) return undefined;
	return {
		inputPer1M: t.inputPer1M,
		outputPer1M: t.outputPer1M,
		cachedInputPer1M: t.cachedInputPer1M,
	};
}

/** USD cost of `usage` on `model`; undefined when the model's price is unknown. */
export function costUsd(
	model: string,
	usage: {
		inputTokens: number;
		outputTokens: number;
		cachedInputTokens?: number;
		cacheWriteTokens?: number;
		cacheWrite1hTokens?: number;
		serviceTier?: string;
	},
	opts: CostOptions = {},
): number | undefined {
	const listed = priceFor(model, opts.overrides);
	const price = listed && ratesFor(listed, usage.serviceTier, opts.batch === true);
	if (!price) return undefined;
	const factor = opts.batch ? (price.batchDiscount ?? 1) : 1;
	// `inputTokens` counts every input token; the cached and written parts are priced by the
	// provider's caching rules, the rest at the input price.
	const read = Math.max(0, usage.cachedInputTokens ?? 0);
	const write = Math.max(0, usage.cacheWriteTokens ?? 0);
	const write1h = Math.min(write, Math.max(0, usage.cacheWrite1hTokens ?? 0));
	const plain = Math.max(0, usage.inputTokens - read - write);
	const writePrice = price.cacheWritePer1M ?? price.inputPer1M;
	const inputUsd =
		plain * price.inputPer1M +
		read * (price.cachedInputPer1M ?? price.inputPer1M) +
		(write - write1h) * writePrice +
		write1h * (price.cacheWrite1hPer1M ?? writePrice);
	const usd = ((inputUsd + usage.outputTokens * price.outputPer1M) / 1e6) * factor;
	// Trim binary-float noise (0.30000000000000004) without losing sub-cent precision.
	return Math.round(usd * 1e10) / 1e10;
}

/**
 * What the prompt cache saved on `usage`: the cost of the same tokens all at the input
 * price minus the cost charged (negative when writes cost more than reads saved).
 */
export function cacheSavingsUsd(
	model: string,
	usage: Parameters<typeof costUsd>[1],
	opts: CostOptions = {},
): number | undefined {
	const charged = costUsd(model, usage, opts);
	const uncached = costUsd(
		model,
		{
			inputTokens: usage.inputTokens,
			outputTokens: usage.outputTokens,
			...(usage.serviceTier === undefined ? {} : { serviceTier: usage.serviceTier }),
		},
		opts,
	);
	if (charged === undefined || uncached === undefined) return undefined;
	return Math.round((uncached - charged) * 1e10) / 1e10;
}
