import {
	NodeConnectionTypes,
	type IExecuteFunctions,
	type INodeExecutionData,
	type INodeType,
	type INodeTypeDescription,
} from 'n8n-workflow';

import { executeRouteFailures } from './execute';
import { properties } from './properties';

export class RouteFailures implements INodeType {
	description: INodeTypeDescription = {
		displayName: 'Route Failures',
		name: 'routeFailures',
		icon: { light: 'file:routeFailures.svg', dark: 'file:routeFailures.dark.svg' },
		group: ['transform'],
		version: 1,
		subtitle: '={{"max " + $parameter["maxRetries"] + " retries"}}',
		description:
			'Send failed items by cause: Retry (wire it back into LLM Batch Call; counts trips and suggests a wait), Dead Letter (with the full error history) or Filtered (content policy)',
		defaults: { name: 'Route Failures' },
		usableAsTool: true,
		inputs: [NodeConnectionTypes.Main],
		outputs: [NodeConnectionTypes.Main, NodeConnectionTypes.Main, NodeConnectionTypes.Main],
		outputNames: ['Retry', 'Dead Letter', 'Filtered'],
		properties,
	};

	async execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
		return await executeRouteFailures(this);
	}
}
