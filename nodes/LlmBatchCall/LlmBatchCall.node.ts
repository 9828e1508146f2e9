import {
	NodeConnectionTypes,
	type IExecuteFunctions,
	type INodeExecutionData,
	type INodeType,
	type INodeTypeDescription,
} from 'n8n-workflow';

import {
	llmBatchPostgresConnectionTest,
	llmBatchRedisConnectionTest,
} from '../shared/credential-tests';
import { llmBatchFallbackConnectionTest } from './credentialTest';
import { executeLlmBatchCall } from './execute';
import { properties } from './properties';

const openAi = { show: { provider: ['openai'] } };
const anthropic = { show: { provider: ['anthropic'] } };
const gemini = { show: { provider: ['gemini'] } };

/**
 * The UI of LLM Batch Call. The node class holds only its description (n8n's lint rules
 * read the class description in the .node.ts file); its parameters are declared in
 * properties.ts, parsed in params.ts, and the item loop lives in execute.ts, over the engine
 * in core/.
 */
export class LlmBatchCall implements INodeType {
	description: INodeTypeDescription = {
		displayName: 'LLM Batch Call',
		name: 'llmBatchCall',
		icon: { light: 'file:llmBatchCall.svg', dark: 'file:llmBatchCall.dark.svg' },
		group: ['transform'],
		version: 1,
		subtitle: '={{$parameter["model"]}}',
		description:
			'Send every item through an LLM with rate limits, retries, bounded concurrency and structured output; every item leaves on Success or Failed',
		defaults: { name: 'LLM Batch Call' },
		usableAsTool: true,
		inputs: [NodeConnectionTypes.Main],
		outputs: [NodeConnectionTypes.Main, NodeConnectionTypes.Main],
		outputNames: ['Success', 'Failed'],
		credentials: [
			{ name: 'llmBatchOpenAiApi', required: true, displayOptions: openAi },
			{ name: 'llmBatchAnthropicApi', required: true, displayOptions: anthropic },
			{ name: 'llmBatchGeminiApi', required: true, displayOptions: gemini },
			{
				name: 'llmBatchFallbackApi',
				required: true,
				testedBy: 'llmBatchFallbackConnectionTest',
				displayOptions: { hide: { fallbackProvider: ['none'] } },
			},
			{
				name: 'llmBatchPostgresApi',
				required: true,
				testedBy: 'llmBatchPostgresConnectionTest',
				displayOptions: { show: { ledgerStore: ['postgres'] } },
			},
			{
				name: 'llmBatchRedisApi',
				required: true,
				testedBy: 'llmBatchRedisConnectionTest',
				displayOptions: { show: { shareLimitsThrough: ['redis'] } },
			},
		],
		properties,
	};

	methods = {
		credentialTest: {
			llmBatchPostgresConnectionTest,
			llmBatchRedisConnectionTest,
			llmBatchFallbackConnectionTest,
		},
	};

	async execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
		return await executeLlmBatchCall(this);
	}
}
