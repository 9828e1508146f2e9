/**
 * The end of a run of LLM Batch Call: the counters of every model's runner made one, and the
 * summary line the node shows (core/call/progress.ts `formatSummary`, then what only a whole
 * call knows: unpriced models, the prompt cache, answers per model, grouped requests).
 */
import { unpricedModels, type Pricing } from './pricing';
import { emptyGroupStats, formatGroupSummary, type GroupStats } from './group';
import { formatSummary } from './progress';
import type { Outcome, RunStats } from './types';
import type { ServiceTier } from '../types';

/**
 * The primary's counters with the fallbacks' spend added and the outcomes recounted
 * (handed-off items were counted as failed by the primary); rejected items count as failed.
 */
export function callStats(
	primary: RunStats,
	run: {
		fallbacks: RunStats[];
		outcomes: Outcome[];
		reused: number;
		rejected: number;
		total: number;
	},
): RunStats {
	const stats = primary;
	if (run.fallbacks.length > 0) {
		mergeFallbackStats(stats, run.fallbacks);
		stats.cached += run.reused;
		stats.done = run.outcomes.length;
		stats.succeeded = run.outcomes.filter((o) => o.ok).length;
		stats.failed = stats.done - stats.succeeded;
		stats.failuresByCode = {};
		for (const o of run.outcomes)
			if (!o.ok) stats.failuresByCode[o.error.code] = (stats.failuresByCode[o.error.code] ?? 0) + 1;
	}
	stats.total = run.total;
	stats.failed += run.rejected;
	stats.done += run.rejected;
	if (run.rejected > 0)
		stats.failuresByCode.invalid_input = (stats.failuresByCode.invalid_input ?? 0) + run.rejected;
	return stats;
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
		if (o.capacityWaits) into.capacityWaits = (into.capacityWaits ?? 0) + o.capacityWaits;
		for (const [tier, n] of Object.entries(o.answeredByTier ?? {})) {
			const by = (into.answeredByTier ??= {});
			by[tier] = (by[tier] ?? 0) + n;
		}
	}
}

/** The summary of a whole call: `models` the primary then each fallback. */
export function callSummary(
	stats: RunStats,
	run: {
		now: number;
		pricing: Pricing;
		models: readonly string[];
		answeredBy?: number[];
		/** By model, when records were grouped. */
		groupStats?: ReadonlyArray<GroupStats | undefined>;
		/** The Service Tier asked for. */
		serviceTier?: ServiceTier;
	},
): string {
	const primary = run.models[0];
	let summary = formatSummary(stats, run.now);
	const tier =
		run.serviceTier === 'flex' || run.serviceTier === 'priority' ? run.serviceTier : undefined;
	if (stats.costUnknown) {
		const atTier = tier ? unpricedModels(run.pricing, [...run.models], tier) : [];
		const unpriced = atTier.length > 0 ? atTier : unpricedModels(run.pricing, [...run.models]);
		const where =
			atTier.length > 0
				? `a Model Prices entry with Service Tier ${tier === 'flex' ? 'Flex' : 'Priority'}`
				: unpriced.includes(primary)
					? 'Input/Output Price per 1M Tokens'
					: 'Model Prices';
		summary += ` · cost unknown: no ${atTier.length > 0 ? `${tier} ` : ''}price for ${unpriced.join(', ') || primary} (set ${where} to track it)`;
	}
	if (stats.answeredByTier) {
		const by = Object.entries(stats.answeredByTier).map(([t, n]) => `${t} ${n}`);
		summary += ` · answers by tier: ${by.join(', ')}`;
	}
	if (stats.capacityWaits)
		summary += ` · ${stats.capacityWaits} flex capacity wait${stats.capacityWaits === 1 ? '' : 's'} (429 resource_unavailable, not billed)`;
	if (stats.cachedInputTokens > 0)
		summary += ` · ${stats.cachedInputTokens.toLocaleString('en-US')} input tokens from the prompt cache`;
	if (run.answeredBy) {
		const answeredBy = run.answeredBy;
		summary += ` · answers per model: ${answeredBy.map((n, k) => `${run.models[k]} ${n}`).join(', ')}`;
	}
	if (run.groupStats) {
		const byModel = run.groupStats;
		summary += ` · ${formatGroupSummary(
			run.models.map((model, k) => ({ model, stats: byModel[k] ?? emptyGroupStats() })),
		)}`;
	}
	return summary;
}
