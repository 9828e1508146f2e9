/**
 * The pictures of a run or a job: inline SVG (the status page) and the same SVG as PNG
 * (Batch Report's attachment, for chat and mail previews that show SVG poorly or not at all).
 */
import type { Report, ReportEntry } from '../index';
import {
	costByModelOfEntries,
	costChart,
	failuresChart,
	outcomesChart,
	throughputChart,
	throughputOfTimes,
} from './data';
import { svgToPng } from './png';
import { gridSvg, type Panel } from './svg';

export * from './data';
export { svgToPng, type PngOptions } from './png';
export * from './svg';

/**
 * A finished run's four charts: outcomes, failures by code, throughput over time and cost by
 * model. Without the run's entries (a report built from the ledger's job stats, which keeps
 * neither finish times nor models) the last two say so instead of drawing.
 */
export function reportChartPanels(
	report: Pick<Report, 'outcomes' | 'byErrorCode' | 'costUsd'>,
	entries?: readonly ReportEntry[],
): Panel[] {
	const times = entries?.map((e) => e.completedAt).filter((t): t is number => t !== undefined);
	return [
		outcomesChart(report.outcomes),
		failuresChart(report.byErrorCode),
		throughputChart(
			throughputOfTimes(times ?? []),
			entries ? undefined : 'The ledger keeps no finish times per item',
		),
		entries
			? costChart(costByModelOfEntries(entries))
			: costChart(report.costUsd > 0 ? { 'all models': report.costUsd } : {}),
	];
}

/** The four charts in one SVG document (two columns), titled for screen readers. */
export function reportChartSvg(
	report: Pick<Report, 'outcomes' | 'byErrorCode' | 'costUsd' | 'runId'>,
	entries?: readonly ReportEntry[],
): string {
	const label = report.runId ? `Batch report charts, run ${report.runId}` : 'Batch report charts';
	return gridSvg(reportChartPanels(report, entries), label);
}

/** The PNG Batch Report attaches: the four charts at a width chat and mail previews show well. */
export async function reportChartPng(
	report: Pick<Report, 'outcomes' | 'byErrorCode' | 'costUsd' | 'runId'>,
	entries?: readonly ReportEntry[],
): Promise<Buffer> {
	return await svgToPng(reportChartSvg(report, entries), { width: 1200 });
}
