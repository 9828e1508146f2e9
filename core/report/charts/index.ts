/**
 * The pictures of a run or a job: inline SVG (the status page) and the same SVG as PNG
 * (Batch Report's attachment, for chat and mail previews that show SVG poorly or not at all).
 */
import type { Report, ReportEntry } from '../index';
import {
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

type ChartedReport = Pick<Report, 'outcomes' | 'byErrorCode' | 'costUsd' | 'costTable'>;

/**
 * Cost per model as the report's cost table has it (every paid answer, failures' paid answers
 * a row of their own), so the chart and the table cannot disagree; a report without a cost
 * table (from the ledger's job stats, which keeps no model per answer) has its total only.
 */
function costByModel(report: ChartedReport): Record<string, number> {
	if (report.costTable)
		return Object.fromEntries(report.costTable.byModel.map((row) => [row.model, row.costUsd]));
	return report.costUsd > 0 ? { 'all models': report.costUsd } : {};
}

/**
 * A finished run's four charts: outcomes, failures by code, throughput over time and cost by
 * model. Throughput needs the run's entries (their finish times): a report built from the
 * ledger's job stats, which keeps none, says so instead of drawing.
 */
export function reportChartPanels(
	report: ChartedReport,
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
		costChart(costByModel(report)),
	];
}

/** The four charts in one SVG document (two columns), titled for screen readers. */
export function reportChartSvg(
	report: ChartedReport & Pick<Report, 'runId'>,
	entries?: readonly ReportEntry[],
): string {
	const label = report.runId ? `Batch report charts, run ${report.runId}` : 'Batch report charts';
	return gridSvg(reportChartPanels(report, entries), label);
}

/** The PNG Batch Report attaches: the four charts at a width chat and mail previews show well. */
export async function reportChartPng(
	report: ChartedReport & Pick<Report, 'runId'>,
	entries?: readonly ReportEntry[],
): Promise<Buffer> {
	return await svgToPng(reportChartSvg(report, entries), { width: 1200 });
}
