import {
	NodeConnectionTypes,
	type IExecuteFunctions,
	type INodeExecutionData,
	type INodeType,
	type INodeTypeDescription,
} from 'n8n-workflow';

import { operationProperties, router } from './actions/router';

export class BatchPrepare implements INodeType {
	description: INodeTypeDescription = {
		displayName: 'Batch Prepare',
		name: 'batchPrepare',
		icon: { light: 'file:batchPrepare.svg', dark: 'file:batchPrepare.dark.svg' },
		group: ['transform'],
		version: 1,
		subtitle: '={{$parameter["operation"] === "estimate" ? "Estimate Cost" : "Prepare Items"}}',
		description:
			'Get items ready for an LLM batch: stable record IDs, input checks, pre-filter, dedupe, pilot sample, chunking — or a pre-flight estimate of tokens, cost and time',
		defaults: { name: 'Batch Prepare' },
		usableAsTool: true,
		inputs: [NodeConnectionTypes.Main],
		outputs: [NodeConnectionTypes.Main, NodeConnectionTypes.Main],
		outputNames: ['Ready', 'Rejected'],
		properties: [
			{
				displayName: 'Operation',
				name: 'operation',
				type: 'options',
				noDataExpression: true,
				options: [
					{
						name: 'Prepare Items',
						value: 'prepare',
						action: 'Prepare items for an LLM batch',
						description:
							'IDs, checks, filter, dedupe, sample, chunks; every item leaves on Ready or Rejected',
					},
					{
						name: 'Estimate Cost',
						value: 'estimate',
						action: 'Estimate tokens cost and time',
						description:
							'One summary item on Ready: tokens, cost (realtime and batch price) and time under your limits',
					},
				],
				default: 'prepare',
			},
			...operationProperties,
		],
	};

	async execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
		return await router(this);
	}
}
