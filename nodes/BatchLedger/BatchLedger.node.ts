import {
	NodeConnectionTypes,
	type IExecuteFunctions,
	type INodeExecutionData,
	type INodeType,
	type INodeTypeDescription,
} from 'n8n-workflow';

import { llmBatchPostgresConnectionTest } from './credentialTest';
import { executeBatchLedger } from './execute';

const op = (...operation: string[]) => ({ show: { operation } });
const main = NodeConnectionTypes.Main;

/**
 * The UI of Batch Ledger (n8n's lint rules read the description in the .node.ts file);
 * parameters are parsed in params.ts, the operations live in execute.ts over core/ledger.
 * This node also carries the test of the PostgreSQL ledger credential for the package
 * (`testedBy`: n8n finds a credential's test on any node that declares it).
 */
export class BatchLedger implements INodeType {
	description: INodeTypeDescription = {
		displayName: 'Batch Ledger',
		name: 'batchLedger',
		icon: { light: 'file:batchLedger.svg', dark: 'file:batchLedger.dark.svg' },
		group: ['transform'],
		version: 1,
		subtitle: '={{$parameter["operation"] + ": " + $parameter["ledgerJob"]}}',
		description:
			'The durable per-record store of LLM batch jobs: skip what is done, record results, list failed or stale records, requeue, export, stats',
		defaults: { name: 'Batch Ledger' },
		usableAsTool: true,
		inputs: [NodeConnectionTypes.Main],
		// Skip Completed splits its input in two; every other operation has one output.
		outputs: `={{ $parameter.operation === 'skipCompleted' ? [{ type: '${main}', displayName: 'To Do' }, { type: '${main}', displayName: 'Completed' }] : [{ type: '${main}' }] }}`,
		credentials: [
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
						name: 'Delete Job',
						value: 'deleteJob',
						description: 'Delete every record of the job and the cached responses it produced',
						action: 'Delete a job',
					},
					{
						name: 'Export Job',
						value: 'exportJob',
						description: 'One item per record of the job',
						action: 'Export a job',
					},
					{
						name: 'Get Failed',
						value: 'getFailed',
						description: 'One item per failed record, with its last error',
						action: 'Get failed records',
					},
					{
						name: 'Job Stats',
						value: 'stats',
						description:
							'One item with counts by status, attempts, tokens, cost and errors by code',
						action: 'Get job stats',
					},
					{
						name: 'Record Results',
						value: 'recordResults',
						description: 'Write Success and Failed items of LLM Batch Call into the ledger',
						action: 'Record results',
					},
					{
						name: 'Requeue Stale',
						value: 'requeueStale',
						description:
							'Find records stuck in processing (a run that died) and set them back to pending',
						action: 'Requeue stale records',
					},
					{
						name: 'Skip Completed',
						value: 'skipCompleted',
						description:
							'Pass on only records not yet succeeded; the others leave on Completed with their stored result',
						action: 'Skip completed records',
					},
				],
				default: 'skipCompleted',
			},
			{
				displayName: 'Ledger',
				name: 'ledgerStore',
				type: 'options',
				noDataExpression: true,
				options: [
					{
						name: 'SQLite File',
						value: 'sqlite',
						description: 'Embedded; one file on this n8n instance',
					},
					{
						name: 'PostgreSQL',
						value: 'postgres',
						description: 'Shared by several n8n instances or queue-mode workers',
					},
				],
				default: 'sqlite',
			},
			{
				displayName: 'SQLite File Path',
				name: 'ledgerSqlitePath',
				type: 'string',
				default: '',
				placeholder: '/data/llm-batch-ledger.sqlite',
				displayOptions: { show: { ledgerStore: ['sqlite'] } },
				description:
					'Path of the ledger file. Empty = llm-batch-ledger.sqlite in the n8n user folder (~/.n8n).',
			},
			{
				displayName: 'Job Name',
				name: 'ledgerJob',
				type: 'string',
				default: '',
				required: true,
				placeholder: 'ticket-classification',
				description: 'The job as named in LLM Batch Call; records are kept per job name',
			},
			{
				displayName: 'Record ID',
				name: 'recordId',
				type: 'string',
				default: '={{ $json.recordId ?? $json.id }}',
				displayOptions: op('skipCompleted'),
				description: 'Stable ID of each record, the same one LLM Batch Call uses',
			},
			{
				displayName: 'Record ID',
				name: 'recordId',
				type: 'string',
				default: '={{ $json.llm?.recordId ?? $json.recordId ?? $json.id }}',
				displayOptions: op('recordResults'),
				description:
					'Stable ID of each record; Failed items carry no result, so their ID comes from the input fields',
			},
			{
				displayName: 'Result Field',
				name: 'resultField',
				type: 'string',
				default: 'llm',
				displayOptions: op('skipCompleted', 'recordResults'),
				description: 'The field holding the LLM result (the Result Field of LLM Batch Call)',
			},
			{
				displayName: 'Add Stored Result',
				name: 'includeResult',
				type: 'boolean',
				default: true,
				displayOptions: op('skipCompleted'),
				description:
					'Whether items on Completed get the stored result in the Result Field, as if LLM Batch Call had answered',
			},
			{
				displayName: 'Prompt',
				name: 'prompt',
				type: 'string',
				typeOptions: { rows: 3 },
				default: '',
				displayOptions: op('skipCompleted'),
				description:
					'Optional: the same Prompt expression as in LLM Batch Call. When set, a record whose stored answer was for another prompt goes to To Do, not Completed.',
			},
			{
				displayName: 'System Prompt',
				name: 'systemPrompt',
				type: 'string',
				typeOptions: { rows: 2 },
				default: '',
				displayOptions: op('skipCompleted'),
				description: 'Optional: the same System Prompt as in LLM Batch Call (used with Prompt)',
			},
			{
				displayName: 'Register as Pending',
				name: 'registerPending',
				type: 'boolean',
				default: true,
				displayOptions: op('skipCompleted'),
				description:
					'Whether records new to the ledger are added with status pending, so Job Stats counts what is left',
			},
			{
				displayName: 'Older Than (Minutes)',
				name: 'olderThanMinutes',
				type: 'number',
				default: 30,
				typeOptions: { minValue: 0 },
				displayOptions: op('requeueStale'),
				description: 'A record still processing after this long belongs to a run that died',
			},
			{
				displayName: 'Requeue',
				name: 'requeue',
				type: 'boolean',
				default: true,
				displayOptions: op('requeueStale'),
				description: 'Whether to set the stale records back to pending; off only lists them',
			},
			{
				displayName: 'Status',
				name: 'status',
				type: 'options',
				options: [
					{ name: 'All', value: 'all' },
					{ name: 'Failed', value: 'failed' },
					{ name: 'Pending', value: 'pending' },
					{ name: 'Processing', value: 'processing' },
					{ name: 'Succeeded', value: 'succeeded' },
				],
				default: 'all',
				displayOptions: op('exportJob'),
			},
			{
				displayName: 'Return All',
				name: 'returnAll',
				type: 'boolean',
				default: true,
				displayOptions: op('getFailed', 'exportJob'),
				description: 'Whether to return all results or only up to a given limit',
			},
			{
				displayName: 'Limit',
				name: 'limit',
				type: 'number',
				default: 50,
				typeOptions: { minValue: 1 },
				displayOptions: { show: { operation: ['getFailed', 'exportJob'], returnAll: [false] } },
				description: 'Max number of results to return',
			},
		],
	};

	methods = { credentialTest: { llmBatchPostgresConnectionTest } };

	async execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
		return await executeBatchLedger(this);
	}
}
