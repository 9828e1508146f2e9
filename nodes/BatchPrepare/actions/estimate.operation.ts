import type {
	IDataObject,
	IExecuteFunctions,
	INodeExecutionData,
	INodeProperties,
} from 'n8n-workflow';

import {
	DEFAULT_CONCURRENCY,
	DEFAULT_MODEL,
	DEFAULT_REQUESTS_PER_MINUTE,
	DEFAULT_TOKENS_PER_MINUTE,
} from '../../../core/defaults';
import { fileRuleFor, filesTokens } from '../../../core/documents-tokens';
import { estimateRun } from '../../../core/prepare';
import { attachmentNames, readItemAttachments } from '../../shared/attachments';
import { attachmentsOption } from '../../shared/descriptions';
import { readEstimateConfig, readEstimateTexts } from '../params';

const estimate = { show: { operation: ['estimate'] } };

export const description: INodeProperties[] = [
	{
		displayName: 'Model',
		name: 'model',
		type: 'string',
		displayOptions: estimate,
		default: DEFAULT_MODEL,
		description: 'Prices and tokenizer follow the model ID',
	},
	{
		displayName: 'Text per Item',
		name: 'text',
		type: 'string',
		typeOptions: { rows: 2 },
		displayOptions: estimate,
		default: '={{ JSON.stringify($json) }}',
		description:
			"The prompt each item will send — use the same expression as LLM Batch Call's Prompt",
	},
	{
		displayName: 'System Prompt',
		name: 'systemPrompt',
		type: 'string',
		typeOptions: { rows: 2 },
		displayOptions: estimate,
		default: '',
		description: 'Sent with every item; counted once per request',
	},
	{
		displayName: 'Output Tokens per Item',
		name: 'outputTokensPerItem',
		type: 'number',
		typeOptions: { minValue: 0 },
		displayOptions: estimate,
		default: 100,
		description: 'Expected answer size',
	},
	{
		displayName: 'Requests per Minute',
		name: 'rpm',
		type: 'number',
		typeOptions: { minValue: 0 },
		displayOptions: estimate,
		default: DEFAULT_REQUESTS_PER_MINUTE,
		description: 'Your rate limit; 0: none',
	},
	{
		displayName: 'Tokens per Minute',
		name: 'tpm',
		type: 'number',
		typeOptions: { minValue: 0 },
		displayOptions: estimate,
		default: DEFAULT_TOKENS_PER_MINUTE,
		description: 'Your token limit (input + output); 0: none',
	},
	{
		displayName: 'Options',
		name: 'estimateOptions',
		type: 'collection',
		placeholder: 'Add Option',
		displayOptions: estimate,
		default: {},
		options: [
			{
				...attachmentsOption,
				description:
					"Binary properties whose files LLM Batch Call or LLM Batch Job will send (as their Attachments option): a name (data), a comma-separated list, or * for all. PDFs count by pages and images by size, by the model's provider rule.",
			},
			{
				displayName: 'Average Latency (Ms)',
				name: 'avgLatencyMs',
				type: 'number',
				default: 0,
				description: 'Per request; 0: leave latency out of the time estimate',
			},
			{
				displayName: 'Concurrency',
				name: 'concurrency',
				type: 'number',
				default: DEFAULT_CONCURRENCY,
				description: 'Parallel requests (used with Average Latency)',
			},
			{
				displayName: 'Include Per-Item Counts',
				name: 'perItem',
				type: 'boolean',
				default: false,
				description: "Whether to list every item's token count",
			},
			{
				displayName: 'Input Price per 1M (USD)',
				name: 'inputPricePer1M',
				type: 'number',
				default: -1,
				description: 'Override the price table; -1: use the table',
			},
			{
				displayName: 'Output Price per 1M (USD)',
				name: 'outputPricePer1M',
				type: 'number',
				default: -1,
				description: 'Override the price table; -1: use the table',
			},
		],
	},
];

/** One item with the pre-flight estimate of tokens, cost and time of the whole input. */
export async function execute(ctx: IExecuteFunctions): Promise<INodeExecutionData[][]> {
	const items = ctx.getInputData();
	const config = readEstimateConfig(ctx, description);
	const option = ctx.getNodeParameter('estimateOptions.attachments', 0, '') as string;
	const fileTokensPerItem = await filesTokensPerItem(ctx, option, config.model);
	const estimate = estimateRun(readEstimateTexts(ctx), {
		...config,
		...(fileTokensPerItem ? { fileTokensPerItem } : {}),
	});
	ctx.addExecutionHints({ message: estimate.summary, type: 'info', location: 'outputPane' });
	return [
		[
			{
				json: estimate as unknown as IDataObject,
				pairedItem: items.map((_, i) => ({ item: i })),
			},
		],
		[],
	];
}

/** Each item's files counted by the model's rule, read one at a time; a file that cannot be sent counts 0. */
async function filesTokensPerItem(
	ctx: IExecuteFunctions,
	option: string,
	model: string,
): Promise<number[] | undefined> {
	const names = attachmentNames(option);
	if (names !== '*' && names.length === 0) return undefined;
	const rule = fileRuleFor(model);
	const out: number[] = [];
	for (let i = 0; i < ctx.getInputData().length; i++) {
		const files = await readItemAttachments(ctx, i, names);
		out.push(Array.isArray(files) ? filesTokens(rule, files, model) : 0);
	}
	return out;
}
