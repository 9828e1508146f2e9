import { NodeOperationError, type IExecuteFunctions, type INode } from 'n8n-workflow';
import { z } from 'zod';

import { modelPricing, unpricedModels } from '../../core/call/pricing';
import type { CallShape } from '../../core/call/input';
import { anthropicCachePrices, priceFor, type Price, type TierPrice } from '../../core/cost';
import { isReservedField, SERVICE_TIERS } from '../../core/types';
import { configError } from '../shared/config';
import { defaultsOf, optionDefaultsOf, withDefaults } from '../shared/defaults';
import { groupingOptionFields, readJsonSchemaParam } from '../shared/llm-params';
import { properties } from './properties';

const options = z.object({
	attachments: z.string().trim(),
	maxTokens: z.number().int().positive(),
	temperature: z.number().min(0).max(2).optional(),
	maxAttempts: z.number().int().min(1).max(20),
	timeoutSeconds: z.number().positive(),
	contextWindow: z.number().int().min(0),
	maxCostUsd: z.number().min(0),
	inputPricePer1M: z.number(),
	outputPricePer1M: z.number(),
	modelPrices: z.object({
		price: z
			.array(
				z.object({
					model: z.string().trim().min(1, 'A Model Prices entry has no Model'),
					inputPricePer1M: z.number().min(0, 'A model price cannot be negative'),
					outputPricePer1M: z.number().min(0, 'A model price cannot be negative'),
					serviceTier: z.enum(['default', 'flex', 'priority']).default('default'),
				}),
			)
			.default([]),
	}),
	circuitThreshold: z.number().min(1).max(100),
	outageMinutes: z.number().min(0),
	maxRetryAfterSeconds: z.number().min(0),
	onCircuitOpen: z.enum(['pause', 'stop']),
	progressIntervalSeconds: z.number().min(0),
	outputFields: z.enum(['all', 'result']),
	responseCache: z.enum(['off', 'job', 'allJobs']),
	...groupingOptionFields,
	maxReasks: z.number().int().min(0).max(5),
	fixInvalidBy: z.enum(['cheapest', 'reask', 'fresh']),
	budgetScope: z.enum(['run', 'job']),
	// OpenAI's processing tier (./serviceTier.ts).
	serviceTier: z.enum(SERVICE_TIERS),
	flexDeadlineMinutes: z.number().min(0, 'Flex Deadline cannot be negative'),
	flexTimeoutSeconds: z.number().positive('Flex Request Timeout must be more than 0 seconds'),
	// Stop When Failures Exceed
	stopFailurePercent: z.number().min(0).max(100),
	stopFailureWindow: z
		.number()
		.int('Stop When Failures Exceed: Window must be a whole number')
		.min(1, 'Stop When Failures Exceed: Window must be at least 1'),
});

const config = z.object({
	provider: z.enum(['openai', 'anthropic', 'gemini']),
	model: z.string().trim().min(1, 'Model is empty: enter the model ID, e.g. gpt-4o-mini'),
	outputFormat: z.enum(['text', 'json']),
	concurrency: z
		.number()
		.int('Concurrency must be a whole number')
		.min(1, 'Concurrency must be at least 1'),
	requestsPerMinute: z.number().gt(0, 'Requests per Minute must be greater than 0'),
	tokensPerMinute: z.number().gt(0, 'Tokens per Minute must be greater than 0'),
	resultField: z.string().trim().min(1, 'Result Field is empty'),
	shareLimitsThrough: z.enum(['process', 'redis']),
	redisUnavailable: z.enum(['fallback', 'stop']),
	redisFallbackShare: z
		.number()
		.gt(0, 'Fallback Share of the Limit must be more than 0 %')
		.max(100, 'Fallback Share of the Limit cannot be more than 100 %'),
	ledgerStore: z.enum(['none', 'sqlite', 'postgres']),
	ledgerJob: z.string().trim(),
	ledgerSqlitePath: z.string().trim(),
	fallbackProvider: z.enum(['none', 'openai', 'anthropic', 'gemini']),
	fallbackModels: z.string().trim(),
	options,
});

/** What the editor declares (properties.ts), the values a parameter not set falls back to. */
const DEFAULTS = defaultsOf(properties);
/**
 * An option not added is its declared default, except Temperature: not added, the provider's
 * own default applies (0 is only what the editor offers once it is added).
 */
const OPTION_DEFAULTS = optionDefaultsOf(properties, 'options');
delete OPTION_DEFAULTS.temperature;

export type CallConfig = z.infer<typeof config> & {
	/** Parsed JSON Schema when the output format is JSON. */
	schema?: Record<string, unknown>;
};

/** Node-level parameters -> typed config. Bad configuration fails here, before any call. */
export function readConfig(ctx: IExecuteFunctions): CallConfig {
	const node = ctx.getNode();
	const param = (name: string) => ctx.getNodeParameter(name, 0, DEFAULTS[name]);
	const raw = {
		provider: ctx.getNodeParameter('provider', 0),
		model: ctx.getNodeParameter('model', 0),
		outputFormat: param('outputFormat'),
		concurrency: param('concurrency'),
		requestsPerMinute: param('requestsPerMinute'),
		tokensPerMinute: param('tokensPerMinute'),
		resultField: param('resultField'),
		shareLimitsThrough: param('shareLimitsThrough'),
		redisUnavailable: param('redisUnavailable'),
		redisFallbackShare: param('redisFallbackShare'),
		ledgerStore: param('ledgerStore'),
		ledgerJob: param('ledgerJob'),
		ledgerSqlitePath: param('ledgerSqlitePath'),
		fallbackProvider: param('fallbackProvider'),
		fallbackModels: param('fallbackModels'),
		options: withDefaults(OPTION_DEFAULTS, ctx.getNodeParameter('options', 0, {})),
	};
	const parsed = config.safeParse(raw);
	if (!parsed.success) throw configError(node, parsed.error);
	const cfg: CallConfig = parsed.data;
	if (cfg.ledgerStore !== 'none' && cfg.ledgerJob === '') {
		throw new NodeOperationError(node, 'Ledger is on but Job Name is empty', {
			description:
				'Give the job a name (e.g. ticket-classification); a rerun with the same name resumes it.',
		});
	}
	if (isReservedField(cfg.resultField)) {
		throw new NodeOperationError(node, `Result Field "${cfg.resultField}" is reserved`, {
			description:
				'Pick another name (e.g. llm): "error" marks failed items downstream, and names such as json, pairedItem, __proto__, constructor or prototype would break the item; nothing was sent.',
		});
	}
	if (cfg.options.attachments !== '' && cfg.options.recordsPerRequest > 1) {
		throw new NodeOperationError(node, 'Attachments cannot go with Records per Request above 1', {
			description:
				"A grouped request carries many records' prompts, and a file cannot be told apart by record: set Records per Request to 1, or leave Attachments empty; nothing was sent.",
		});
	}
	checkServiceTier(node, cfg);
	checkCostCap(node, cfg);
	if (cfg.options.budgetScope === 'job' && cfg.ledgerStore === 'none') {
		throw new NodeOperationError(
			node,
			'The cost cap applies to the ledger job, but the Ledger is off',
			{
				description:
					'Turn the Ledger on (SQLite or PostgreSQL) and name the job, or let the cap apply to each run.',
			},
		);
	}
	if (cfg.fallbackProvider !== 'none' && fallbackModelsOf(cfg).length === 0) {
		throw new NodeOperationError(node, 'A fallback provider is set but Fallback Models is empty', {
			description:
				'Enter the fallback model IDs in order, comma-separated (e.g. claude-haiku-4-5, claude-sonnet-4-5), or set Fallback Provider to None.',
		});
	}
	if (cfg.outputFormat === 'json') {
		// A fallback on Anthropic needs the object-schema rule as much as a primary on Anthropic.
		const strictest = cfg.fallbackProvider === 'anthropic' ? 'anthropic' : cfg.provider;
		cfg.schema = readJsonSchemaParam(ctx, strictest);
	}
	return cfg;
}

/**
 * A cost cap needs a price for every model of the chain: a cap that cannot be computed would
 * let a model's spend through unseen. Checked before any call.
 */
function checkCostCap(node: INode, cfg: CallConfig): void {
	if (cfg.options.maxCostUsd <= 0) return;
	const unknown = unpricedModels(modelPricing(priceOverridesOf(cfg)), [
		cfg.model,
		...fallbackModelsOf(cfg),
	]);
	if (unknown.includes(cfg.model))
		throw new NodeOperationError(
			node,
			`Max Cost per Run is set, but the price of ${cfg.model} is unknown`,
			{
				description:
					'Set Input Price per 1M Tokens and Output Price per 1M Tokens (0 for a local model) so the cap can be enforced, or remove the cap; nothing was sent.',
			},
		);
	if (unknown.length > 0)
		throw new NodeOperationError(
			node,
			`Max Cost per Run is set, but the price of fallback model ${unknown.join(', ')} is unknown`,
			{
				description: `Add ${unknown.length === 1 ? 'it' : 'them'} under Model Prices (Input and Output Price per 1M Tokens; 0 for a local model), pick fallback models with a known price, or remove the cap; nothing was sent.`,
			},
		);
}

/**
 * The Service Tier needs an OpenAI model in the chain, a Flex Deadline needs Flex, and with a
 * cost cap every OpenAI model needs a price at the tier asked for (a flex answer is never
 * priced at the standard price): all before any call.
 */
function checkServiceTier(node: INode, cfg: CallConfig): void {
	const o = cfg.options;
	const openAiModels = [
		...(cfg.provider === 'openai' ? [cfg.model] : []),
		...(cfg.fallbackProvider === 'openai' ? fallbackModelsOf(cfg) : []),
	];
	if (o.serviceTier !== 'auto' && openAiModels.length === 0)
		throw new NodeOperationError(
			node,
			`Service Tier ${o.serviceTier} is set, but no model of the run is on OpenAI`,
			{
				description:
					"Service Tier is OpenAI's (service_tier): set it to Auto for Anthropic and Google Gemini; nothing was sent.",
			},
		);
	if (o.flexDeadlineMinutes > 0 && o.serviceTier !== 'flex')
		throw new NodeOperationError(node, 'Flex Deadline is set, but Service Tier is not Flex', {
			description: 'Set Service Tier to Flex, or Flex Deadline to 0; nothing was sent.',
		});
	for (const e of o.modelPrices.price)
		if (e.serviceTier !== 'default' && !hasStandardPrice(cfg, e.model))
			throw new NodeOperationError(
				node,
				`Model Prices has a ${e.serviceTier} price for ${e.model} but no Default price`,
				{
					description: `Add a Model Prices entry for ${e.model} with Service Tier Default (its standard price); nothing was sent.`,
				},
			);
	const tier = o.serviceTier === 'flex' || o.serviceTier === 'priority' ? o.serviceTier : undefined;
	if (!tier || o.maxCostUsd <= 0) return;
	const unknown = unpricedModels(modelPricing(priceOverridesOf(cfg)), openAiModels, tier);
	if (unknown.length > 0)
		throw new NodeOperationError(
			node,
			`Max Cost per Run is set, but the ${tier} price of ${unknown.join(', ')} is unknown`,
			{
				description: `Add a Model Prices entry for ${unknown.length === 1 ? 'it' : 'each'} with Service Tier ${tier === 'flex' ? 'Flex' : 'Priority'} (its price at that tier; OpenAI's flex price is its batch price), pick a model offered at ${tier}, or remove the cap; nothing was sent.`,
			},
		);
}

function hasStandardPrice(cfg: CallConfig, model: string): boolean {
	const o = cfg.options;
	if (o.modelPrices.price.some((e) => e.model === model && e.serviceTier === 'default'))
		return true;
	if (model === cfg.model && o.inputPricePer1M >= 0 && o.outputPricePer1M >= 0) return true;
	return priceFor(model) !== undefined;
}

/** The fallback models in order (empty when there is no fallback provider). */
export function fallbackModelsOf(
	cfg: Pick<CallConfig, 'fallbackProvider' | 'fallbackModels'>,
): string[] {
	if (cfg.fallbackProvider === 'none') return [];
	return cfg.fallbackModels
		.split(',')
		.map((m) => m.trim())
		.filter((m) => m !== '');
}

/**
 * Each model's own price, where the node sets one: Input/Output Price per 1M Tokens is the
 * primary model's, a Model Prices entry the price of the model it names at its Service Tier.
 * No other model of the chain takes them (core/cost.ts `priceFor`). A tier the node sets no
 * price for keeps the built-in table's price at that tier, if any.
 */
export function priceOverridesOf(
	cfg: Pick<CallConfig, 'provider' | 'model' | 'fallbackProvider' | 'options'>,
): Record<string, Price> {
	const price = (model: string, inputPer1M: number, outputPer1M: number): Price => {
		const provider = model === cfg.model ? cfg.provider : cfg.fallbackProvider;
		const tiers = priceFor(model)?.tiers;
		return {
			inputPer1M,
			outputPer1M,
			...(provider === 'anthropic' ? anthropicCachePrices(inputPer1M) : {}),
			...(tiers ? { tiers: { ...tiers } } : {}),
		};
	};
	const out: Record<string, Price> = {};
	const entries = cfg.options.modelPrices.price;
	for (const e of entries)
		if (e.serviceTier === 'default')
			out[e.model] = price(e.model, e.inputPricePer1M, e.outputPricePer1M);
	const { inputPricePer1M, outputPricePer1M } = cfg.options;
	if (inputPricePer1M >= 0 && outputPricePer1M >= 0)
		out[cfg.model] = price(cfg.model, inputPricePer1M, outputPricePer1M);
	for (const e of entries) {
		if (e.serviceTier === 'default') continue;
		const base = out[e.model] ?? priceFor(e.model);
		if (!base) continue; // checkServiceTier refuses a tier price without a standard one
		const tier: TierPrice = { inputPer1M: e.inputPricePer1M, outputPer1M: e.outputPricePer1M };
		out[e.model] = { ...base, tiers: { ...base.tiers, [e.serviceTier]: tier } };
	}
	return out;
}

/** What every item's request is built from (core/call/input.ts `inputPolicy`). */
export function callShapeOf(cfg: CallConfig, scope: string): CallShape {
	const o = cfg.options;
	return {
		provider: cfg.provider,
		scope,
		model: cfg.model,
		schema: cfg.schema,
		maxTokens: o.maxTokens,
		temperature: o.temperature,
		contextWindow: o.contextWindow,
		cacheTtl: o.promptCaching === 'off' ? undefined : o.promptCaching,
	};
}
