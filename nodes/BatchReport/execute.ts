import type { IDataObject, IExecuteFunctions, INodeExecutionData } from 'n8n-workflow';

import { systemClock } from '../../core/clock';
import {
	buildReport,
	collect,
	reportOfItems,
	type CollectorState,
	type Report,
} from '../../core/report';
import { reportOfJobStats } from '../../core/report/job-report';
import type { JobStats } from '../../core/ledger';
import type { Json } from '../../core/paths';
import type { Clock } from '../../core/types';
import { projectionMarkdown, projectRun } from '../../core/report/projection';
import { readConfig, type ReportConfig } from './params';

const hint = (ctx: IExecuteFunctions, message: string, type: 'info' | 'warning' = 'info') =>
	ctx.addExecutionHints({ message, type, location: 'outputPane' });

/**
 * A job bigger than one execution: the ledger's stats are the whole job; report it once
 * nothing is pending or processing (the chunk that finishes last). Success and Failed both
 * feeding Job Stats run this node twice in one execution: one report per job.
 */
function reportsOfJobStats(
	ctx: IExecuteFunctions,
	config: ReportConfig,
	jsons: readonly Json[],
	clock: Clock,
): Report[] {
	const reports: Report[] = [];
	const reported = ctx.getContext('node') as { reportedJobs?: string[] };
	reported.reportedJobs ??= [];
	for (const json of jsons) {
		const stats = json as unknown as JobStats & { chunks?: number; chunksDone?: number };
		const job = reportOfJobStats(stats, config.thresholds, clock.now);
		// Batch Ledger's "Claim the Job Report": another execution won the claim and reports.
		if (job.complete && json.reportClaimed === false) continue;
		if (job.complete) {
			if (reported.reportedJobs.includes(job.job)) continue;
			reported.reportedJobs.push(job.job);
			reports.push(job);
		} else
			hint(
				ctx,
				`Job ${job.job}: ${(job.items - job.open).toLocaleString('en-US')} of ${job.items.toLocaleString('en-US')} records ${stats.chunks ? `registered so far done, ${(stats.chunksDone ?? 0).toLocaleString('en-US')} of ${stats.chunks.toLocaleString('en-US')} chunks` : 'done'}; the report follows when the last chunk finishes`,
			);
	}
	return reports;
}

/** Node context lives for the execution, across this node's runs (as Loop Over Items keeps its state). */
function reportsOfCompleteRuns(
	ctx: IExecuteFunctions,
	config: ReportConfig,
	jsons: readonly Json[],
	finishedAt: number,
): Report[] {
	const reports: Report[] = [];
	const state = ctx.getContext('node') as CollectorState;
	const collected = collect(state, jsons, config.fields);
	const opts = { finishedAt, thresholds: config.thresholds, ...config.costTable };
	for (const run of collected.complete)
		reports.push(buildReport(run.entries, { ...opts, runId: run.runId, startedAt: run.startedAt }));
	if (collected.unscoped.length > 0)
		reports.push(buildReport(collected.unscoped, { ...opts, runId: null }));
	for (const p of collected.pending)
		hint(
			ctx,
			`Run ${p.runId}: ${p.seen} of ${p.total} items in so far; the report follows when all have arrived`,
		);
	if (collected.late > 0)
		hint(
			ctx,
			`${collected.late} item(s) arrived after their run was reported and were not counted`,
			'warning',
		);
	return reports;
}

export async function executeBatchReport(
	ctx: IExecuteFunctions,
	deps: { clock?: Clock } = {},
): Promise<INodeExecutionData[][]> {
	const clock = deps.clock ?? systemClock;
	const config = readConfig(ctx);
	const items = ctx.getInputData();
	const jsons = items.map((item) => item.json);
	const finishedAt = clock.now();
	let reports: Report[];
	if (config.emitWhen === 'jobStats') reports = reportsOfJobStats(ctx, config, jsons, clock);
	else if (config.emitWhen === 'eachRun') {
		const report = reportOfItems(jsons, config.fields, {
			finishedAt,
			thresholds: config.thresholds,
			...config.costTable,
		});
		reports = report ? [report] : [];
	} else reports = reportsOfCompleteRuns(ctx, config, jsons, finishedAt);

	if (config.projection) {
		for (const r of reports) {
			const projection = projectRun(r, config.projection);
			Object.assign(r, {
				projection,
				markdown: `${r.markdown}\n${projectionMarkdown(projection)}`,
			});
		}
	}
	const pairedItem = items.map((_, i) => ({ item: i }));
	const report: INodeExecutionData[] = reports.map((r) => ({
		json: r as unknown as IDataObject,
		pairedItem,
	}));
	const alert: INodeExecutionData[] = reports
		.filter((r) => r.alerts.length > 0)
		.map((r) => ({ json: r as unknown as IDataObject, pairedItem }));
	return [report, alert];
}
