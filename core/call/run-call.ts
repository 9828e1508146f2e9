/**
 * LLM Batch Call's one entry: the node reads its parameters and its items, and `runCall`
 * does the rest — the ledger's checkpoint and the job budget, one cost meter for the whole
 * chain, a runner per model (the primary, then each fallback: core/call/fallback.ts), records
 * grouped per request when asked (core/call/group.ts), the progress line — and returns every
 * item's outcome, the run's counters and the summary the node shows.
 */
import { CostMeter } from './budget';
import { modelPricing } from './pricing';
import { LedgerSpendStore, type SpendStore } from './spend-store';
import { markSharedAttachments, markSharedPromptPrefix } from './cache';
import { fileTokens } from '../documents-tokens';
import { runWithFallbacks } from './fallback';
import { addGroupStats, runGrouped, type GroupStats } from './group';
import type { CallConfig, CallDeps, CallInput, CallResult, Outcome, RunItem } from './types';
import { reportProgress } from './progress';
import { FLEX_TIMEOUT_MS } from './service-tier';
import type { BatchRunner } from './runner';
import { groupOptions, modelChain, type Shared } from './chain';
import { callStats, callSummary } from './summary';
import { describeNotReused } from '../identity';
import { createCheckpoint, DEFAULT_LEASE_MS, type Checkpoint } from '../ledger';
import { claimOwner } from '../ledger/checkpoint';
import { compileSchema } from '../schema';
import { jobHeartbeat, withLatencies, type Heartbeat } from '../status/heartbeat';
import { runCounters } from '../status/run-counters';
import { jsonSchemaTokens } from '../tokens';

export type {
	CallConfig,
	CallDeps,
	CallInput,
	CallLimit,
	CallOptions,
	CallResult,
	Endpoint,
} from './types';

/** Runs the call: rejects only with a `ConfigurationError` or a ledger failure (nothing else was lost). */
export async function runCall(
	config: CallConfig,
	input: CallInput,
	deps: CallDeps,
): Promise<CallResult> {
	const { options } = config;
	markPromptCache(config, input.items);
	// A failed commit stops every model of the chain (they share the ledger), once they exist.
	const late: { runners?: BatchRunner[] } = {};
	const ledger = openLedger(config, deps, (message) => {
		for (const runner of late.runners ?? []) runner.stop('ledger_unavailable', message);
	});
	// One meter for every model of the chain, each priced by its own price.
	const pricing = modelPricing(config.prices);
	const meter = new CostMeter({ pricing, capUsd: options.maxCostUsd, store: ledger.spend });
	const validate = config.schema ? compileSchema(config.schema) : undefined;
	const shared: Shared = {
		config,
		deps,
		meter,
		checkpoint: ledger.checkpoint,
		validate: validate?.ok ? validate.validate : undefined,
	};
	const chain = modelChain(shared, input);
	late.runners = chain.runners;
	deps.limits[0].onStop((message) => chain.primary.stop('limit_store_unavailable', message));
	const { done, groupStats } = runChain(shared, chain, input.items);
	for (const l of deps.limits) done.then(l.release, l.release);
	const progress = reportProgress(done, chain.primary.stats, {
		clock: deps.clock,
		intervalMs: options.progressIntervalSeconds * 1000,
		log: deps.log.info,
		label: config.label,
	});
	const live = () =>
		runCounters(
			chain.primary.stats,
			chain.stages.map((s) => s.runner.stats),
			input.total,
		);
	// Not awaited: the end's beat (finish) waits for the one under way, bounded.
	void ledger.heartbeat?.run(live, done);
	let run: Awaited<typeof done> | undefined;
	try {
		run = await done;
	} finally {
		await progress;
		if (!run) await ledger.heartbeat?.finish('stopped', live());
	}
	const stats = callStats(chain.primary.stats, {
		fallbacks: chain.stages.map((s) => s.runner.stats),
		outcomes: run.outcomes,
		reused: run.reused,
		rejected: input.rejected.size - chain.tooLong.length,
		total: input.total,
	});
	await ledger.heartbeat?.finish(
		stats.stopped ? 'stopped' : 'finished',
		runCounters(stats, [], input.total),
	);
	const summary = callSummary(stats, {
		now: deps.clock.now(),
		pricing,
		models: chain.models,
		answeredBy: run.answeredBy,
		groupStats,
		serviceTier: options.serviceTier,
	});
	return { outcomes: run.outcomes, stats, summary, warnings: warningsOf(ledger.checkpoint, deps) };
}

/**
 * Anthropic: a breakpoint on the prompts' shared lines too (a grouped request's prompt is the
 * records, so only requests of one record).
 */
function markPromptCache(config: CallConfig, items: RunItem[]): void {
	const { options } = config;
	if (options.promptCaching === 'off' || options.recordsPerRequest !== 1) return;
	const provider = config.primary.provider;
	markSharedAttachments(items, { provider, ttl: options.promptCaching }, (f) =>
		fileTokens(provider, f.facts, config.primary.model),
	);
	markSharedPromptPrefix(items, {
		provider: config.primary.provider,
		model: config.primary.model,
		ttl: options.promptCaching,
		schemaTokens: config.schema ? jsonSchemaTokens(config.schema) : 0,
	});
}

/**
 * The items on the primary, then down the fallback chain; each model groups records per
 * request when asked (`groupStats` by model: a model may group in more than one run).
 */
function runChain(shared: Shared, chain: ReturnType<typeof modelChain>, items: RunItem[]) {
	const grouping = shared.config.options.recordsPerRequest > 1;
	const groupStats: Array<GroupStats | undefined> = [];
	const runOn = (runner: BatchRunner, list: RunItem[]): Promise<Outcome[]> => {
		if (!grouping) return runner.run(list);
		const k = chain.runners.indexOf(runner);
		return runGrouped(runner, list, groupOptions(shared, chain.models[k], k === 0)).then((g) => {
			const before = groupStats[k];
			groupStats[k] = before ? addGroupStats(before, g.stats) : g.stats;
			return g.outcomes;
		});
	};
	const { primary, stages, tooLong } = chain;
	const checkpoint = shared.checkpoint;
	const done: Promise<{ outcomes: Outcome[]; answeredBy?: number[]; reused: number }> =
		stages.length > 0
			? runWithFallbacks(runOn, primary, items, stages, tooLong, checkpoint)
			: runOn(primary, items).then((outcomes) => ({ outcomes, reused: 0 }));
	return { done, groupStats: grouping ? groupStats : undefined };
}

/** For the log and the hint: answers the ledger holds but could not reuse, a limit that failed. */
function warningsOf(checkpoint: Checkpoint | undefined, deps: CallDeps): string[] {
	const notReused = checkpoint?.notReused && describeNotReused(checkpoint.notReused);
	const limitWarning =
		deps.limits
			.map((l) => l.finish())
			.filter((w) => w !== undefined)
			.join(' ') || undefined;
	return [notReused, limitWarning].filter((w): w is string => !!w);
}

/**
 * The ledger's checkpoint (claims, stored answers), for a job budget the spend store, and the
 * job's heartbeat; a failed commit stops the spending at once (`stop`).
 */
function openLedger(
	config: CallConfig,
	deps: CallDeps,
	stop: (message: string) => void,
): { checkpoint?: Checkpoint; spend?: SpendStore; heartbeat?: Heartbeat } {
	if (!config.ledger) return {};
	const { store, job } = config.ledger;
	const { clock } = deps;
	const options = config.options;
	// This execution, as its ledger claims and budget reservations name it.
	const owner = claimOwner();
	// A claim (and a reservation) outlives one attempt (limiter wait + request + commit) with room to spare.
	const flexSeconds =
		options.serviceTier === 'flex' ? (options.flexTimeoutSeconds ?? FLEX_TIMEOUT_MS / 1000) : 0;
	const longest = Math.max(options.timeoutSeconds, flexSeconds);
	const leaseMs = Math.max(DEFAULT_LEASE_MS, 2 * longest * 1000 + 60_000);
	const cache = options.responseCache;
	// A job budget: reserved in the ledger, against what every execution of the job spent.
	const spend =
		options.budgetScope === 'job' && options.maxCostUsd > 0
			? new LedgerSpendStore(store, job, { clock, owner, leaseMs })
			: undefined;
	const checkpoint = createCheckpoint(store, job, {
		clock,
		onError: (e) => stop(`the ledger could not store results: ${e.message}`),
		owner,
		leaseMs,
		cache: cache === 'off' ? undefined : { crossJob: cache === 'allJobs' },
	});
	// The job's live status for Batch Ledger's Job Status: this execution's counters, beaten.
	const heartbeat = jobHeartbeat(
		store,
		{ job, execution: config.ledger.execution ?? owner, node: 'LLM Batch Call' },
		{ clock, warn: (line) => deps.log.warn(`${config.label}: ${line}`) },
	);
	return {
		checkpoint: heartbeat ? withLatencies(checkpoint, heartbeat) : checkpoint,
		spend,
		heartbeat,
	};
}
