/** Builds the report of a run from its entries, or from exactly the given items. */
import { getPath, type Json } from '../paths';
import { checkAlerts } from './alerts';
import { costTable } from './cost-table';
import { toEntry, type ReportEntry } from './entry';
import { percentile, round } from './format';
import { toMarkdown } from './markdown';
import type { ReportFields } from './outcome';
import { tally, type Totals } from './totals';
import type { AlertThresholds, Report } from './types';

export interface BuildOptions {
	runId?: string | null;
	startedAt?: string;
	finishedAt: number;
	thresholds?: AlertThresholds;
	/** The naive counterfactual's model. @default the run's primary model */
	naiveModel?: string;
	/** Also price the correct answers on this model alone (a cascade's strong model). */
	compareModel?: string;
}

/** Start from Batch Prepare's stamp when there is one, else from the earliest item. */
function timing(t: Totals, opts: BuildOptions, processed: number) {
	const stamped = opts.startedAt !== undefined ? Date.parse(opts.startedAt) : Number.NaN;
	const started = Number.isFinite(stamped) ? stamped : t.firstStart;
	const finished = Number.isFinite(stamped) ? opts.finishedAt : (t.lastDone ?? opts.finishedAt);
	const durationMs = started === undefined ? null : Math.max(0, finished - started);
	return {
		startedAt: started === undefined ? null : new Date(started).toISOString(),
		finishedAt: new Date(finished).toISOString(),
		durationMs,
		throughputPerMin:
			durationMs === null || durationMs === 0 ? null : round((processed / durationMs) * 60_000, 1),
	};
}

function moneyParts(t: Totals) {
	return {
		cache: { readTokens: t.cacheRead, writeTokens: t.cacheWrite, savedUsd: round(t.cacheSaved, 8) },
		...(t.reusedItems > 0
			? { responseCache: { items: t.reusedItems, savedUsd: round(t.reusedSaved, 8) } }
			: {}),
		answersByModel: t.answersByModel,
		...(t.notSampled > 0 ? { notSampledItems: t.notSampled } : {}),
		costUsd: round(t.cost, 8),
		costUnknownItems: t.costUnknown,
		batchApi:
			t.batchItems === 0
				? null
				: {
						items: t.batchItems,
						costUsd: round(t.batchCost, 8),
						realtimeCostUsd: round(t.batchRealtime, 8),
						savedUsd: round(t.batchRealtime - t.batchCost, 8),
					},
	};
}

export function buildReport(entries: readonly ReportEntry[], opts: BuildOptions): Report {
	const t = tally(entries);
	const processed = entries.length - t.outcomes.rejected;
	const { startedAt, finishedAt, durationMs, throughputPerMin } = timing(t, opts, processed);
	const base: Omit<Report, 'alerts' | 'markdown'> = {
		runId: opts.runId ?? null,
		items: entries.length,
		outcomes: t.outcomes,
		byErrorCode: t.byErrorCode,
		successRate: processed === 0 ? null : round(t.outcomes.success / processed, 4),
		retries: { items: t.retryItems, trips: t.trips, extraCallAttempts: t.extra },
		tokens: { input: t.input, output: t.output, total: t.input + t.output },
		...moneyParts(t),
		costTable: costTable(t, { naiveModel: opts.naiveModel, compareModel: opts.compareModel }),
		latencyMs: {
			p50: percentile(t.latencies, 50),
			p95: percentile(t.latencies, 95),
			max: t.latencies.length ? t.latencies[t.latencies.length - 1] : null,
		},
		startedAt,
		finishedAt,
		durationMs,
		throughputPerMin,
	};
	const alerts = checkAlerts(base, opts.thresholds ?? {});
	const withAlerts = { ...base, alerts };
	return { ...withAlerts, markdown: toMarkdown(withAlerts) };
}

/**
 * One report over exactly the given items (the "On Every Node Run" mode): the run ID when
 * all items carry the same Batch Prepare stamp, the earliest stamped start.
 */
export function reportOfItems(
	items: readonly Json[],
	fields: ReportFields,
	opts: Omit<BuildOptions, 'runId' | 'startedAt'>,
): Report | undefined {
	if (items.length === 0) return undefined;
	const stamps = items.map(
		(j) => getPath(j, fields.runField) as { id?: unknown; startedAt?: unknown } | undefined,
	);
	const ids = new Set(stamps.map((s) => (typeof s?.id === 'string' ? s.id : null)));
	const starts = stamps
		.map((s) => (typeof s?.startedAt === 'string' ? s.startedAt : undefined))
		.filter((s): s is string => s !== undefined)
		.sort();
	return buildReport(
		items.map((j) => toEntry(j, fields)),
		{
			runId: ids.size === 1 ? [...ids][0] : null,
			...opts,
			startedAt: starts[0],
		},
	);
}
