import {
	NodeOperationError,
	type IDataObject,
	type IExecuteFunctions,
	type INodeExecutionData,
} from 'n8n-workflow';

import { systemClock } from '../../core/clock';
import {
	CostMeter,
	LedgerSpendStore,
	modelPricing,
	unpricedModels,
	type SpendStore,
} from '../../core/call/budget';
import { markSharedPromptPrefix } from '../../core/call/cache';
import { CONTEXT_WINDOW, inputPolicy, reaskFromItem } from '../../core/call/input';
import { runWithFallbacks, type FallbackStage } from '../../core/call/fallback';
import { answerScope, describeNotReused } from '../../core/identity';
import { describeDuplicateIds, describeUnnamed, type DuplicateIds } from '../../core/record-id';
import {
	createCheckpoint,
	DEFAULT_LEASE_MS,
	LedgerStoreError,
	type Checkpoint,
} from '../../core/ledger';
import { claimOwner } from '../../core/ledger/checkpoint';
import { formatSummary, reportProgress } from '../../core/call/progress';
import { createProvider, type ProviderCredentials } from '../../core/call/providers';
import {
	addGroupStats,
	emptyGroupStats,
	formatGroupSummary,
	runGrouped,
	type GroupStats,
} from '../../core/call/group';
import {
	BatchRunner,
	ConfigurationError,
	type Outcome,
	type RunItem,
	type RunStats,
} from '../../core/call/runner';
import type { Clock, ItemError, ProviderName } from '../../core/types';
import { compileSchema } from '../../core/schema';
import { contextWindow } from '../../core/models';
import { estimateTokens } from '../../core/tokens';
import { ledgerStoreFor } from '../shared/ledger';
import { providerCredentials, readPromptItems, type RawPromptInput } from '../shared/llm-params';
import { fallbackModelsOf, priceOverridesOf, readConfig, type CallConfig } from './params';
import { limiterFor, type LimitHandle } from './sharedLimit';

/** Injection points for tests (a fake clock, a stub fetch); n8n itself passes nothing. */
export interface CallDeps {
	clock?: Clock;
	fetch?: typeof fetch;
}

function invalidInput(message: string): ItemError {
	return { code: 'invalid_input', message, retryable: false, attempts: 0 };
}

/** Reads each item's prompt; bad input fails that item (core/call/input.ts), never the node. */
function policyFor(cfg: CallConfig, provider: ProviderName, model: string, scope: string) {
	return inputPolicy({
		provider,
		scope,
		model,
		schema: cfg.schema,
		maxTokens: cfg.options.maxTokens,
		temperature: cfg.options.temperature,
		// The Context Window option is the primary's; fallbacks use their known window.
		contextWindow: model === cfg.model ? cfg.options.contextWindow : 0,
		cacheTtl: cfg.options.promptCaching === 'off' ? undefined : cfg.options.promptCaching,
	});
}

function buildItems(
	ctx: IExecuteFunctions,
	cfg: CallConfig,
	scope: string,
	keepRaw: boolean,
): {
	runItems: RunItem[];
	rejected: Map<number, ItemError>;
	raws: Array<RawPromptInput | undefined>;
	duplicates: DuplicateIds | undefined;
	unnamed: number;
} {
	const read = readPromptItems(
		ctx,
		{
			provider: cfg.provider,
			scope,
			model: cfg.model,
			schema: cfg.schema,
			maxTokens: cfg.options.maxTokens,
			temperature: cfg.options.temperature,
			contextWindow: cfg.options.contextWindow,
			cacheTtl: cfg.options.promptCaching === 'off' ? undefined : cfg.options.promptCaching,
		},
		{ keepRaw },
	);
	if (!cfg.schema) return read;
	const items = ctx.getInputData();
	// Looped back from Validate Output's Invalid output or our Failed output: re-ask.
	const runItems = read.runItems.map((out) => {
		const reask = reaskFromItem(items[out.index].json, cfg.resultField);
		return reask
			? {
					...out,
					request: { ...out.request, followUp: reask.followUp },
					priorAttempts: reask.attempts,
					priorUsage: reask.usage,
				}
			: out;
	});
	return { ...read, runItems };
}

export async function executeLlmBatchCall(
	ctx: IExecuteFunctions,
	deps: CallDeps = {},
): Promise<INodeExecutionData[][]> {
	const clock = deps.clock ?? systemClock;
	const cfg = readConfig(ctx);
	const creds = await providerCredentials(ctx, cfg.provider);
	const items = ctx.getInputData();
	const fallbackModels = fallbackModelsOf(cfg);
	const { runItems, rejected, raws, duplicates, unnamed } = buildItems(
		ctx,
		cfg,
		answerScope(cfg.provider, creds.baseUrl, creds.apiKey),
		fallbackModels.length > 0,
	);
	// Anthropic: a breakpoint on the prompts' shared lines too (a grouped request's prompt is
	// the records, so only requests of one record).
	if (cfg.options.promptCaching !== 'off' && cfg.options.recordsPerRequest === 1)
		markSharedPromptPrefix(runItems, {
			provider: cfg.provider,
			model: cfg.model,
			ttl: cfg.options.promptCaching,
			schemaTokens: cfg.schema ? estimateTokens(JSON.stringify(cfg.schema)) : 0,
		});
	const fallbackCreds =
		cfg.fallbackProvider === 'none'
			? undefined
			: await providerCredentials(ctx, cfg.fallbackProvider, 'llmBatchFallbackApi');

	let checkpoint: Checkpoint | undefined;
	// Set once the runner exists: a failed commit stops the spending at once.
	let onLedgerError: (e: LedgerStoreError) => void = () => undefined;
	// This execution, as its ledger claims and budget reservations name it.
	const owner = claimOwner();
	// A claim (and a reservation) outlives one attempt (limiter wait + request + commit) with room to spare.
	const leaseMs = Math.max(DEFAULT_LEASE_MS, 2 * cfg.options.timeoutSeconds * 1000 + 60_000);
	let spendStore: SpendStore | undefined;
	if (cfg.ledgerStore !== 'none') {
		try {
			const store = await ledgerStoreFor(ctx, cfg.ledgerStore, cfg.ledgerSqlitePath);
			const cache = cfg.options.responseCache;
			// A job budget: reserved in the ledger, against what every execution of the job spent.
			if (cfg.options.budgetScope === 'job' && cfg.options.maxCostUsd > 0)
				spendStore = new LedgerSpendStore(store, cfg.ledgerJob, { clock, owner, leaseMs });
			checkpoint = createCheckpoint(store, cfg.ledgerJob, {
				clock,
				onError: (e) => onLedgerError(e),
				owner,
				leaseMs,
				cache: cache === 'off' ? undefined : { crossJob: cache === 'allJobs' },
			});
		} catch (e) {
			// A ledger that cannot open must stop the run: running without it would pay again for work already done.
			throw new NodeOperationError(
				ctx.getNode(),
				e instanceof LedgerStoreError ? e.message : (e as Error).message,
				{
					description: 'The ledger could not be opened; nothing was sent.',
				},
			);
		}
	}

	const limit = await limiterFor(ctx, cfg, creds, clock);
	const flow = limit.limiter;
	const validate = cfg.schema ? compileSchema(cfg.schema) : undefined;
	const node = ctx.getNode().name;
	// One meter for every model of the chain, each priced by its own price.
	const pricing = modelPricing(priceOverridesOf(cfg));
	const meter = new CostMeter({
		pricing,
		capUsd: cfg.options.maxCostUsd,
		store: spendStore,
	});
	const makeRunner = (
		providerName: ProviderName,
		providerCreds: ProviderCredentials,
		model: string,
		modelFlow: typeof flow,
		handOff: boolean,
		warmUp: boolean,
	) =>
		new BatchRunner({
			provider: createProvider(providerName, providerCreds, deps.fetch),
			flow: modelFlow,
			handOffOverloaded: handOff,
			meter,
			clock,
			concurrency: cfg.concurrency,
			retry: { maxAttempts: cfg.options.maxAttempts },
			timeoutMs: cfg.options.timeoutSeconds * 1000,
			signal: ctx.getExecutionCancelSignal?.(),
			circuit: {
				threshold: cfg.options.circuitThreshold / 100,
				onOpen: cfg.options.onCircuitOpen,
				outageMs: cfg.options.outageMinutes * 60_000,
			},
			maxRetryAfterMs: cfg.options.maxRetryAfterSeconds * 1000,
			setting: { model, baseUrl: providerCreds.baseUrl },
			structured: cfg.schema
				? { validate: validate?.ok ? validate.validate : undefined }
				: undefined,
			checkpoint,
			warmUp,
			maxReasks: cfg.schema ? cfg.options.maxReasks : 0,
			fixInvalidBy: cfg.options.fixInvalidBy,
			onEvent: (e) => {
				if (e.type === 'circuit') {
					ctx.logger.warn(
						e.action === 'resume'
							? `${node}: the provider answers again — circuit closed, the run resumes`
							: `${node}: ${Math.round(e.failureShare * 100)} % of recent requests failed with provider errors — circuit breaker ${e.action === 'pause' ? 'pauses the run until a probe succeeds' : 'stops the run'}`,
						{ node },
					);
				} else if (e.type === 'stop') {
					ctx.logger.warn(`${node}: run stopped (${e.code}): ${e.message}`, { node });
				}
			},
		});
	const runner = makeRunner(
		cfg.provider,
		creds,
		cfg.model,
		flow,
		fallbackModels.length > 0,
		runItems.some((i) => i.request.cache !== undefined),
	);
	// Each fallback model: its own provider client and its own flow controller at the same
	// limits, shared the way Share Limits Through says (this process, or Redis).
	const fallbackLimits: LimitHandle[] = [];
	try {
		for (const model of fallbackModels)
			fallbackLimits.push(
				await limiterFor(ctx, cfg, fallbackCreds!, clock, {
					provider: cfg.fallbackProvider as ProviderName,
					model,
				}),
			);
	} catch (e) {
		for (const l of [limit, ...fallbackLimits]) l.release();
		throw e instanceof NodeOperationError ? e : new NodeOperationError(ctx.getNode(), e as Error);
	}
	const fallbackScope =
		fallbackCreds &&
		answerScope(cfg.fallbackProvider as ProviderName, fallbackCreds.baseUrl, fallbackCreds.apiKey);
	const stages: FallbackStage[] = fallbackModels.map((model, k) => {
		const providerName = cfg.fallbackProvider as ProviderName;
		const toRunItem = policyFor(cfg, providerName, model, fallbackScope!);
		const stageRunner = makeRunner(
			providerName,
			fallbackCreds!,
			model,
			fallbackLimits[k].limiter,
			k < fallbackModels.length - 1,
			false,
		);
		fallbackLimits[k].onStop((message) => stageRunner.stop('canceled', message));
		return { runner: stageRunner, toItem: (index: number) => toRunItem(index, raws[index]!) };
	});
	// Prompts over the primary's context window go to the first fallback that fits.
	const tooLong: Array<{ index: number; error: ItemError }> = [];
	if (stages.length > 0) {
		for (const [index, error] of rejected) {
			if (error.issues?.some((i) => i.code === CONTEXT_WINDOW)) {
				tooLong.push({ index, error });
				rejected.delete(index);
			}
		}
	}
	onLedgerError = (e) =>
		runner.stop('canceled', `the ledger could not store results: ${e.message}`);
	limit.onStop((message) => runner.stop('canceled', message));

	const grouping = cfg.options.recordsPerRequest > 1;
	// By model: the primary, then each fallback (a model may group in more than one run).
	const groupStats: Array<GroupStats | undefined> = [];
	// The model a runner calls: 0 the primary, k the k-th fallback.
	const modelOf = (r: BatchRunner) =>
		r === runner ? 0 : stages.findIndex((s) => s.runner === r) + 1;
	const runOn = (r: BatchRunner, list: RunItem[]): Promise<Outcome[]> =>
		grouping
			? runGrouped(r, list, {
					recordsPerRequest: cfg.options.recordsPerRequest,
					// Each model groups within its own window (the Context Window option is the
					// primary's): records too long for the primary are grouped on a larger fallback.
					contextWindow:
						modelOf(r) === 0
							? contextWindow(cfg.model, cfg.options.contextWindow)
							: contextWindow(fallbackModels[modelOf(r) - 1]),
					maxTokensPerRequest: cfg.options.maxRecordTokensPerRequest,
					schema: cfg.schema,
					validate: validate?.ok ? validate.validate : undefined,
					// A grouped answer is longer; the cap keeps one request well inside Tokens per Minute.
					maxOutputTokens: Math.max(
						cfg.options.maxTokens,
						Math.min(16_384, Math.floor(cfg.tokensPerMinute / 4)),
					),
					checkpoint,
				}).then((g) => {
					const k = modelOf(r);
					const before = groupStats[k];
					groupStats[k] = before ? addGroupStats(before, g.stats) : g.stats;
					return g.outcomes;
				})
			: r.run(list);
	let answeredBy: number[] | undefined;
	let reusedFallbackAnswers = 0;
	const done =
		stages.length > 0
			? runWithFallbacks(runOn, runner, runItems, stages, tooLong, checkpoint).then((f) => {
					answeredBy = f.answeredBy;
					reusedFallbackAnswers = f.reused;
					return f.outcomes;
				})
			: runOn(runner, runItems);
	for (const l of [limit, ...fallbackLimits]) done.then(l.release, l.release);
	const progress = reportProgress(done, runner.stats, {
		clock,
		intervalMs: cfg.options.progressIntervalSeconds * 1000,
		log: (line) => ctx.logger.info(line, { node }),
		label: node,
	});
	let outcomes: Outcome[];
	try {
		outcomes = await done;
	} catch (e) {
		if (e instanceof ConfigurationError) {
			await progress;
			throw new NodeOperationError(ctx.getNode(), `Configuration error: ${e.message}`, {
				description: `Parameter: ${e.parameter}.${e.hint ? ` ${e.hint}` : ''}`,
			});
		}
		// The runner turns every item failure into data; what reaches here is the ledger
		// failing to store results (or a defect), which must stop the node loudly.
		throw new NodeOperationError(ctx.getNode(), e as Error, {
			description:
				e instanceof LedgerStoreError
					? 'A result could not be written to the ledger; rerun once the store is back — stored results are not paid for again.'
					: undefined,
		});
	}
	await progress;

	const success: INodeExecutionData[] = [];
	const failed: INodeExecutionData[] = [];
	const byIndex = new Map<number, Outcome>();
	for (const o of outcomes) byIndex.set(o.index, o);
	for (let i = 0; i < items.length; i++) {
		const { error: previous, ...rest } = items[i].json;
		const o = byIndex.get(i);
		if (o?.ok) {
			success.push({
				json:
					cfg.options.outputFields === 'result'
						? {
								recordId: o.result.recordId,
								// Batch Prepare's run stamp stays: Batch Report needs it to know the run is complete.
								...(rest.batchRun !== undefined ? { batchRun: rest.batchRun } : {}),
								[cfg.resultField]: o.result as unknown as IDataObject,
							}
						: { ...rest, [cfg.resultField]: o.result as unknown as IDataObject },
				pairedItem: { item: i },
			});
			continue;
		}
		const error: ItemError = o
			? o.error
			: (rejected.get(i) ?? invalidInput('Item was not processed'));
		const history = (previous as { history?: ItemError['history'] } | undefined)?.history;
		failed.push({
			json: { ...rest, error: (history ? { ...error, history } : error) as unknown as IDataObject },
			pairedItem: { item: i },
		});
	}

	const stats = runner.stats;
	if (stages.length > 0) {
		mergeFallbackStats(
			stats,
			stages.map((s) => s.runner.stats),
		);
		stats.cached += reusedFallbackAnswers;
		// Handed-off items were counted as failed by the primary: recount from the outcomes.
		stats.done = outcomes.length;
		stats.succeeded = outcomes.filter((o) => o.ok).length;
		stats.failed = stats.done - stats.succeeded;
		stats.failuresByCode = {};
		for (const o of outcomes)
			if (!o.ok) stats.failuresByCode[o.error.code] = (stats.failuresByCode[o.error.code] ?? 0) + 1;
	}
	stats.total = items.length;
	stats.failed += rejected.size;
	stats.done += rejected.size;
	if (rejected.size > 0)
		stats.failuresByCode.invalid_input = (stats.failuresByCode.invalid_input ?? 0) + rejected.size;
	let summary = formatSummary(stats, clock.now());
	if (stats.costUnknown) {
		const unpriced = unpricedModels(pricing, [cfg.model, ...fallbackModels]);
		summary += ` · cost unknown: no price for ${unpriced.join(', ') || cfg.model} (set ${unpriced.includes(cfg.model) ? 'Input/Output Price per 1M Tokens' : 'Model Prices'} to track it)`;
	}
	if (stats.cachedInputTokens > 0)
		summary += ` · ${stats.cachedInputTokens.toLocaleString('en-US')} input tokens from the prompt cache`;
	if (answeredBy) {
		const names = [cfg.model, ...fallbackModels];
		summary += ` · answers per model: ${answeredBy.map((n, k) => `${names[k]} ${n}`).join(', ')}`;
	}
	if (grouping) {
		const names = [cfg.model, ...fallbackModels];
		summary += ` · ${formatGroupSummary(
			names.map((model, k) => ({ model, stats: groupStats[k] ?? emptyGroupStats() })),
		)}`;
	}
	ctx.logger.info(`${node}: finished — ${summary}`, { node });
	ctx.addExecutionHints?.({
		message: summary,
		type: failed.length > 0 ? 'warning' : 'info',
		location: 'outputPane',
	});
	if (duplicates) {
		const message = describeDuplicateIds(duplicates);
		ctx.logger.warn(`${node}: ${message}`, { node });
		ctx.addExecutionHints?.({ message, type: 'warning', location: 'outputPane' });
	}
	if (unnamed > 0)
		ctx.addExecutionHints?.({
			message: describeUnnamed(unnamed),
			type: 'info',
			location: 'outputPane',
		});
	const notReused = checkpoint?.notReused && describeNotReused(checkpoint.notReused);
	if (notReused) {
		ctx.logger.warn(`${node}: ${notReused}`, { node });
		ctx.addExecutionHints?.({ message: notReused, type: 'warning', location: 'outputPane' });
	}
	const limitWarning =
		[limit, ...fallbackLimits]
			.map((l) => l.finish())
			.filter((w) => w !== undefined)
			.join(' ') || undefined;
	if (limitWarning) {
		ctx.logger.warn(`${node}: ${limitWarning}`, { node });
		ctx.addExecutionHints?.({ message: limitWarning, type: 'warning', location: 'outputPane' });
	}
	return [success, failed];
}

/** The fallback runners' spend and outcomes join the primary's counters for the summary. */
function mergeFallbackStats(into: RunStats, others: RunStats[]): void {
	for (const o of others) {
		into.retries += o.retries;
		into.rateLimited += o.rateLimited;
		into.inputTokens += o.inputTokens;
		into.outputTokens += o.outputTokens;
		into.costUsd += o.costUsd;
		into.cached += o.cached;
		into.cachedInputTokens += o.cachedInputTokens;
		into.cacheWriteTokens += o.cacheWriteTokens;
		into.reasks += o.reasks;
		into.freshFixes += o.freshFixes;
		into.costUnknown ||= o.costUnknown;
	}
}
