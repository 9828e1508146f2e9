/**
 * The report of a job bigger than one execution: built from the ledger's job stats (the
 * job's source of truth), not from items — each chunk ran as its own execution, possibly on
 * another worker, and no execution holds all the items.
 */
import type { JobStats } from '../ledger/types';
import { checkAlerts } from './alerts';
import { toMarkdown } from './markdown';
import { OUTCOMES } from './outcome';
import type { AlertThresholds, Report } from './types';

export interface JobReport extends Report {
	job: string;
	/** True when no record of the job is pending or being processed. */
	complete: boolean;
	/** Records registered for the job that have no final outcome yet. */
	open: number;
}

/**
 * True when every registered record of the job has a final status and — for a job whose chunks
 * register their own records (Job Stats with Chunks in the Job) — every chunk is marked done.
 */
export function jobComplete(
	stats: Pick<JobStats, 'pending' | 'processing'> & { chunks?: number; chunksDone?: number },
): boolean {
	if (stats.pending !== 0 || stats.processing !== 0) return false;
	return !(stats.chunks && stats.chunks > 0) || (stats.chunksDone ?? 0) >= stats.chunks;
}

/**
 * Job stats -> the report Batch Report emits. The ledger keeps no latencies, so the latency
 * percentiles are null; throughput is over the job's first registration to its last update.
 */
export function reportOfJobStats(
	stats: JobStats & { chunks?: number; chunksDone?: number },
	thresholds: AlertThresholds = {},
	now: () => number = Date.now,
): JobReport {
	const outcomes = Object.fromEntries(OUTCOMES.map((o) => [o, 0])) as Report['outcomes'];
	outcomes.success = stats.succeeded;
	outcomes.failed = stats.failed;
	const finished = stats.succeeded + stats.failed;
	const started = stats.firstCreatedAt ? Date.parse(stats.firstCreatedAt) : null;
	const last = stats.lastUpdatedAt ? Date.parse(stats.lastUpdatedAt) : null;
	const durationMs = started !== null && last !== null ? Math.max(0, last - started) : null;
	const base = {
		runId: stats.job,
		items: stats.total,
		outcomes,
		byErrorCode: { ...stats.errorsByCode },
		successRate: finished > 0 ? stats.succeeded / finished : null,
		retries: { items: 0, trips: 0, extraCallAttempts: Math.max(0, stats.attempts - finished) },
		tokens: {
			input: stats.inputTokens,
			output: stats.outputTokens,
			total: stats.inputTokens + stats.outputTokens,
		},
		costUsd: stats.costUsd,
		costUnknownItems: 0,
		latencyMs: { p50: null, p95: null, max: null },
		startedAt: stats.firstCreatedAt,
		finishedAt: stats.lastUpdatedAt ?? new Date(now()).toISOString(),
		durationMs,
		throughputPerMin:
			durationMs !== null && durationMs > 0 ? Math.round((finished / durationMs) * 60_000) : null,
		// The ledger does not know which records went through a provider's batch API, nor the
		// prompt-cache tokens or the model of each answer: those stay per-run figures.
		batchApi: null,
		cache: { readTokens: 0, writeTokens: 0, savedUsd: 0 },
		answersByModel: {},
		costTable: null,
	};
	const alerts = checkAlerts(base, thresholds);
	const report = { ...base, alerts };
	return {
		...report,
		markdown: toMarkdown(report),
		job: stats.job,
		complete: jobComplete(stats),
		open: stats.pending + stats.processing,
	};
}
