import {
	NodeConnectionTypes,
	type IExecuteFunctions,
	type INodeExecutionData,
	type INodeType,
	type INodeTypeDescription,
} from 'n8n-workflow';

import { llmBatchPostgresConnectionTest } from '../shared/credential-tests';
import { ledgerSqlitePathProperty, ledgerStoreChoices } from '../shared/descriptions';
import { operationProperties, router } from './actions/router';

const openAi = { show: { provider: ['openai'] } };
const anthropic = { show: { provider: ['anthropic'] } };
const gemini = { show: { provider: ['gemini'] } };
const main = NodeConnectionTypes.Main;
const out = (a: string, b: string) =>
	`[{ type: '${main}', displayName: '${a}' }, { type: '${main}', displayName: '${b}' }]`;

/**
 * The UI of LLM Batch Job: the providers' batch APIs (OpenAI Batch, Anthropic Message
 * Batches, Gemini Batch API) at half price. One file per operation under actions/ (description + execute),
 * a router holding the error handling, the job logic in core/batch-api.
 */
export class LlmBatchJob implements INodeType {
	description: INodeTypeDescription = {
		displayName: 'LLM Batch Job',
		name: 'llmBatchJob',
		icon: { light: 'file:llmBatchJob.svg', dark: 'file:llmBatchJob.dark.svg' },
		group: ['transform'],
		version: 1,
		subtitle: '={{$parameter["operation"] + ": " + $parameter["jobName"]}}',
		description:
			"Run items through the providers' batch APIs (OpenAI Batch, Anthropic Message Batches, Gemini Batch API) at half price: submit, check status, collect results by record ID, cancel, resubmit",
		defaults: { name: 'LLM Batch Job' },
		usableAsTool: true,
		inputs: [NodeConnectionTypes.Main],
		outputs: `={{ $parameter.operation === 'collect' ? ${out('Success', 'Failed')} : $parameter.operation === 'status' ? ${out('Summary', 'Batches')} : ${out('Batches', 'Failed')} }}`,
		credentials: [
			{ name: 'llmBatchOpenAiApi', required: true, displayOptions: openAi },
			{ name: 'llmBatchAnthropicApi', required: true, displayOptions: anthropic },
			{ name: 'llmBatchGeminiApi', required: true, displayOptions: gemini },
			{
				name: 'llmBatchPostgresApi',
				required: true,
				testedBy: 'llmBatchPostgresConnectionTest',
				displayOptions: { show: { ledgerStore: ['postgres'] } },
			},
		],
		properties: [
			{
				displayName: 'Operation',
				name: 'operation',
				type: 'options',
				noDataExpression: true,
				options: [
					{
						name: 'Cancel',
						value: 'cancel',
						description: "Cancel the job's live batches; what had finished is still collected",
						action: 'Cancel a batch job',
					},
					{
						name: 'Check Status',
						value: 'status',
						description:
							'State and counts of each batch, plus one summary item saying whether all have ended',
						action: 'Check the status of a batch job',
					},
					{
						name: 'Collect Results',
						value: 'collect',
						description:
							'Each record once, on Success (answer, usage, cost at the batch price) or Failed',
						action: 'Collect the results of a batch job',
					},
					{
						name: 'Resubmit',
						value: 'resubmit',
						description:
							'Send retryable failed records (server errors, expired, canceled) again as a new batch',
						action: 'Resubmit failed records of a batch job',
					},
					{
						name: 'Submit',
						value: 'submit',
						description: "Send the items to the provider's batch API, split at its caps",
						action: 'Submit items as a batch job',
					},
				],
				default: 'submit',
			},
			{
				displayName: 'Provider',
				name: 'provider',
				type: 'options',
				noDataExpression: true,
				options: [
					{
						name: 'OpenAI (Batch API)',
						value: 'openai',
						description: '/v1/files + /v1/batches at the credential base URL',
					},
					{
						name: 'Anthropic (Message Batches)',
						value: 'anthropic',
						description: '/v1/messages/batches',
					},
					{
						name: 'Google Gemini (Batch API)',
						value: 'gemini',
						description:
							'Models/{model}:batchGenerateContent with an uploaded JSONL file, results joined by key',
					},
				],
				default: 'openai',
			},
			{
				displayName: 'Job Name',
				name: 'jobName',
				type: 'string',
				required: true,
				default: '',
				placeholder: 'e.g. nightly-tickets',
				description:
					'Names the job in the ledger: Submit records its batches under it, Check Status and Collect Results (often in another workflow) find them by it',
			},
			{
				displayName: 'Ledger',
				name: 'ledgerStore',
				type: 'options',
				noDataExpression: true,
				options: ledgerStoreChoices,
				default: 'sqlite',
				description:
					'Where the job keeps its batches and records, so Submit never sends a record twice and Collect emits each once',
			},
			ledgerSqlitePathProperty,
			...operationProperties,
		],
	};

	methods = { credentialTest: { llmBatchPostgresConnectionTest } };

	async execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
		return await router(this);
	}
}
