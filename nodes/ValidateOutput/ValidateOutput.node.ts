import {
	NodeConnectionTypes,
	type IExecuteFunctions,
	type INodeExecutionData,
	type INodeType,
	type INodeTypeDescription,
} from 'n8n-workflow';

import { executeValidateOutput } from './execute';
import { properties } from './properties';

export class ValidateOutput implements INodeType {
	description: INodeTypeDescription = {
		displayName: 'Validate Output',
		name: 'validateOutput',
		icon: { light: 'file:validateOutput.svg', dark: 'file:validateOutput.dark.svg' },
		group: ['transform'],
		version: 1,
		subtitle: '={{$parameter["field"]}}',
		description:
			'Parse JSON from model answers (plain, fenced or inside prose), check it against a JSON Schema, and send low-confidence answers to human review',
		defaults: { name: 'Validate Output' },
		usableAsTool: true,
		inputs: [NodeConnectionTypes.Main],
		outputs: [NodeConnectionTypes.Main, NodeConnectionTypes.Main, NodeConnectionTypes.Main],
		outputNames: ['Valid', 'Invalid', 'Review'],
		properties,
	};

	async execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
		return await executeValidateOutput(this);
	}
}
