import type { IDataObject, IExecuteFunctions, INodeExecutionData } from 'n8n-workflow';

import { systemClock } from '../../core/clock';
import {
	buildReport,
	collect,
	partialReportWarning,
	reportOfItems,
	toEntry,
	type CollectorState,
	type PartialKind,
	type PartialState,
	type Report,
	type ReportEntry,
} from '../../core/report';
import { reportOfJobStats } from '../../core/report/job-report';
import type { JobStats } from '../../core/ledger';
import type { Json } from '../../core/paths';
import type { Clock } from '../../core/types';
import { projectionMarkdown, projectRun } from '../../core/report/projection';
import { chartBinary } from './charts';
import { readConfig, type ReportConfig } from './params';

const hint = (ctx: IExecuteFunctions, message: string, type: 'info' | 'warning' = 'info') =>
	ctx.addExecutionHints({ message, type, location: 'outputPane' });

/** A report of part of a run from the second such node run on: say so where the user looks. */
function warnIfPartial(ctx: IExecuteFunctions, kind: PartialKind) {
	const warning = partialReportWarning(ctx.getContext('node') as PartialState, kind);
	if (warning) hint(ctx, warning, 'warning');
}

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
	entriesOf: Map<Report, readonly ReportEntry[]>,
): Report[] {
	const reports: Report[] = [];
	const state = ctx.getContext('node') as CollectorState;
	const collected = collect(state, jsons, config.fields);
	const opts = { finishedAt, thresholds: config.thresholds, ...config.costTable };
	const add = (report: Report, entries: readonly ReportEntry[]) => {
		reports.push(report);
		entriesOf.set(report, entries);
	};
	for (const run of collected.complete)
		add(
			buildReport(run.entries, { ...opts, runId: run.runId, startedAt: run.startedAt }),
			run.entries,
		);
	if (collected.unscoped.length > 0) {
		add(buildReport(collected.unscoped, { ...opts, runId: null }), collected.unscoped);
		warnIfPartial(ctx, 'unstamped');
	}
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
	// What each report was built from, for its charts (a job stats report has no entries).
	const entriesOf = new Map<Report, readonly ReportEntry[]>();
	let reports: Report[];
	if (config.emitWhen === 'jobStats') reports = reportsOfJobStats(ctx, config, jsons, clock);
	else if (config.emitWhen === 'eachRun') {
		const report = reportOfItems(jsons, config.fields, {
			finishedAt,
			thresholds: config.thresholds,
			...config.costTable,
		});
		reports = report ? [report] : [];
		if (report) {
			entriesOf.set(
				report,
				jsons.map((j) => toEntry(j, config.fields)),
			);
			warnIfPartial(ctx, 'eachRun');
		}
	} else reports = reportsOfCompleteRuns(ctx, config, jsons, finishedAt, entriesOf);

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
	const report: INodeExecutionData[] = [];
	for (const r of reports) {
		const item: INodeExecutionData = { json: r as unknown as IDataObject, pairedItem };
		if (config.chartProperty)
			item.binary = await chartBinary(ctx, config.chartProperty, r, entriesOf.get(r));
		report.push(item);
	}
	const alert: INodeExecutionData[] = report
		.filter((_, i) => reports[i].alerts.length > 0)
		.map((item) => ({ ...item }));
	return [report, alert];
}
