import type { IExecuteFunctions, INodeExecutionData, INodeType, INodeTypeDescription } from 'n8n-workflow';

import { description } from './description';
import { executeLlmBatchCall } from './execute';

export class LlmBatchCall implements INodeType {
	description: INodeTypeDescription = description;

	async execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
		return await executeLlmBatchCall(this);
	}
}
