import type { IBinaryKeyData, IExecuteFunctions } from 'n8n-workflow';

import type { Report, ReportEntry } from '../../core/report';
import { reportChartPng } from '../../core/report/charts';

export const DEFAULT_CHART_PROPERTY = 'chart';

/** The report's charts as the item's binary data, named after the run so a mail keeps them apart. */
export async function chartBinary(
	ctx: IExecuteFunctions,
	property: string,
	report: Report,
	entries?: readonly ReportEntry[],
): Promise<IBinaryKeyData> {
	const png = await reportChartPng(report, entries);
	const name = `batch-report${report.runId ? `-${report.runId.replace(/[^\w.-]+/g, '_')}` : ''}.png`;
	return { [property]: await ctx.helpers.prepareBinaryData(png, name, 'image/png') };
}
