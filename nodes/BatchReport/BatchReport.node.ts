import {
	NodeConnectionTypes,
	type IExecuteFunctions,
	type INodeExecutionData,
	type INodeType,
	type INodeTypeDescription,
} from 'n8n-workflow';

import { executeBatchReport } from './execute';
import { properties } from './properties';

export class BatchReport implements INodeType {
	description: INodeTypeDescription = {
		displayName: 'Batch Report',
		name: 'batchReport',
		icon: { light: 'file:batchReport.svg', dark: 'file:batchReport.dark.svg' },
		group: ['transform'],
		version: 1,
		subtitle: '={{$parameter["emitWhen"] === "eachRun" ? "per node run" : "one per batch run"}}',
		description:
			'One summary item per batch run: totals by outcome and error code, retries, tokens, cost, latency p50/p95, throughput and a Markdown table; also on Alert when thresholds are crossed',
		defaults: { name: 'Batch Report' },
		usableAsTool: true,
		inputs: [NodeConnectionTypes.Main],
		outputs: [NodeConnectionTypes.Main, NodeConnectionTypes.Main],
		outputNames: ['Report', 'Alert'],
		properties,
	};

	async execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
		return await executeBatchReport(this);
	}
}
