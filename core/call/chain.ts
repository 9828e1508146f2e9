/**
 * The models of one call: the primary's runner and one stage per fallback model (each with its
 * own provider client and limit, all sharing the run's meter and checkpoint), and what each
 * model's grouped requests may hold.
 */
import type { CostMeter } from './budget';
import { FailureRateWatch } from './failure-rate';
import type { FallbackStage } from './fallback';
import type { GroupOptions } from './group-pack';
import { CONTEXT_WINDOW, inputPolicy } from './input';
import { createProvider } from './providers';
import { BatchRunner } from './runner';
import type { CallConfig, CallDeps, CallInput, CallLimit, Endpoint } from './types';
import { answerScope } from '../identity';
import type { Checkpoint } from '../ledger';
import { contextWindow } from '../models';
import type { SchemaValidator } from '../schema';
import type { ItemError, ProviderName } from '../types';

/** What every model's runner shares. */
export interface Shared {
	config: CallConfig;
	deps: CallDeps;
	meter: CostMeter;
	checkpoint?: Checkpoint;
	validate?: SchemaValidator;
}

/**
 * The primary's runner and one stage per fallback model (its own provider client and limit),
 * and the items too long for the primary's window, which go to the first fallback that fits.
 */
export function modelChain(shared: Shared, input: CallInput) {
	const { config, deps } = shared;
	const fallback = config.fallback;
	const models = [config.primary.model, ...(fallback?.models ?? [])];
	// One watch for the chain: a broken prompt is broken on every model, so its stop stops all.
	const failureRate = failureRateOf(config);
	const primary = runnerFor(shared, config.primary, config.primary.model, {
		limit: deps.limits[0],
		handOff: models.length > 1,
		warmUp: input.items.some((i) => i.request.cache !== undefined),
		failureRate,
	});
	const stages: FallbackStage[] = [];
	if (fallback) {
		const scope = answerScope(
			fallback.provider,
			fallback.credentials.baseUrl,
			fallback.credentials.apiKey,
		);
		fallback.models.forEach((model, k) => {
			const toRunItem = inputPolicy(callShape(config, fallback.provider, model, scope));
			const limit = deps.limits[k + 1];
			const runner = runnerFor(shared, fallback, model, {
				limit,
				handOff: k < fallback.models.length - 1,
				warmUp: false,
				failureRate,
			});
			limit.onStop((message) => runner.stop('limit_store_unavailable', message));
			stages.push({ runner, toItem: (index) => toRunItem(index, input.raws[index]!) });
		});
	}
	// Prompts over the primary's context window go to the first fallback that fits.
	const tooLong: Array<{ index: number; error: ItemError }> = [];
	if (stages.length > 0)
		for (const [index, error] of input.rejected)
			if (error.issues?.some((i) => i.code === CONTEXT_WINDOW)) tooLong.push({ index, error });
	const runners = [primary, ...stages.map((s) => s.runner)];
	return { primary, stages, tooLong, models, runners };
}

function failureRateOf(config: CallConfig): FailureRateWatch | undefined {
	const percent = config.options.stopFailurePercent ?? 0;
	const window = config.options.stopFailureWindow ?? 0;
	return percent > 0 && window > 0 ? new FailureRateWatch({ percent, window }) : undefined;
}

/** What a fallback model's requests look like (the Context Window option is the primary's). */
function callShape(config: CallConfig, provider: ProviderName, model: string, scope: string) {
	const o = config.options;
	return {
		provider,
		scope,
		model,
		schema: config.schema,
		maxTokens: o.maxTokens,
		temperature: o.temperature,
		contextWindow: model === config.primary.model ? o.contextWindow : 0,
		cacheTtl: o.promptCaching === 'off' ? undefined : o.promptCaching,
	};
}

function runnerFor(
	shared: Shared,
	endpoint: Endpoint,
	model: string,
	stage: {
		limit: CallLimit;
		handOff: boolean;
		warmUp: boolean;
		failureRate: FailureRateWatch | undefined;
	},
): BatchRunner {
	const { config, deps } = shared;
	const o = config.options;
	const label = config.label;
	return new BatchRunner({
		provider: createProvider(endpoint.provider, endpoint.credentials, deps.fetch),
		flow: stage.limit.limiter,
		handOffOverloaded: stage.handOff,
		meter: shared.meter,
		clock: deps.clock,
		concurrency: config.concurrency,
		retry: { maxAttempts: o.maxAttempts },
		timeoutMs: o.timeoutSeconds * 1000,
		...tierPolicy(o, endpoint.provider, deps.clock.now()),
		signal: deps.signal,
		circuit: {
			threshold: o.circuitThreshold / 100,
			onOpen: o.onCircuitOpen,
			outageMs: o.outageMinutes * 60_000,
		},
		maxRetryAfterMs: o.maxRetryAfterSeconds * 1000,
		setting: { model, baseUrl: endpoint.credentials.baseUrl },
		structured: config.schema ? { validate: shared.validate } : undefined,
		checkpoint: shared.checkpoint,
		warmUp: stage.warmUp,
		maxReasks: config.schema ? o.maxReasks : 0,
		fixInvalidBy: o.fixInvalidBy,
		failureRate: stage.failureRate,
		onEvent: (e) => {
			if (e.type === 'circuit') {
				deps.log.warn(
					e.action === 'resume'
						? `${label}: the provider answers again — circuit closed, the run resumes`
						: `${label}: ${Math.round(e.failureShare * 100)} % of recent requests failed with provider errors — circuit breaker ${e.action === 'pause' ? 'pauses the run until a probe succeeds' : 'stops the run'}`,
				);
			} else if (e.type === 'stop') {
				deps.log.warn(`${label}: run stopped (${e.code}): ${e.message}`);
			}
		},
	});
}

/** The Service Tier applies to OpenAI models; the Flex Deadline counts from the run's start. */
function tierPolicy(o: CallConfig['options'], provider: ProviderName, startedAt: number) {
	if (provider !== 'openai' || o.serviceTier === undefined || o.serviceTier === 'auto') return {};
	const deadline = o.flexDeadlineMinutes ?? 0;
	return {
		serviceTier: o.serviceTier,
		...(o.serviceTier === 'flex' && deadline > 0
			? { flexDeadlineAt: startedAt + deadline * 60_000 }
			: {}),
		...(o.flexTimeoutSeconds ? { flexTimeoutMs: o.flexTimeoutSeconds * 1000 } : {}),
	};
}

/** Records per request on one model, within that model's own context window. */
export function groupOptions(shared: Shared, model: string, primary: boolean): GroupOptions {
	const { config, checkpoint, validate } = shared;
	const o = config.options;
	return {
		recordsPerRequest: o.recordsPerRequest,
		// Records too long for the primary are grouped on a larger fallback.
		contextWindow: primary ? contextWindow(model, o.contextWindow) : contextWindow(model),
		maxTokensPerRequest: o.maxRecordTokensPerRequest,
		schema: config.schema,
		validate,
		// A grouped answer is longer; the cap keeps one request well inside Tokens per Minute.
		maxOutputTokens: Math.max(
			o.maxTokens,
			Math.min(16_384, Math.floor(config.tokensPerMinute / 4)),
		),
		checkpoint,
	};
}
