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

const main = NodeConnectionTypes.Main;

/**
 * The UI of Batch Ledger (n8n's lint rules read the description in the .node.ts file);
 * parameters are parsed in params.ts; each operation is one actions/<op>.operation.ts (its own
 * parameters and execute) over core/ledger, dispatched by actions/router.ts.
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
						name: 'Job Status',
						value: 'jobStatus',
						description:
							'One item with the live status of a job while it runs: progress, ETA, success rate, cost so far, throughput, latency, the executions and workers taking part, and a series for charts',
						action: 'Get job status',
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
				options: ledgerStoreChoices,
				default: 'sqlite',
			},
			ledgerSqlitePathProperty,
			{
				displayName: 'Job Name',
				name: 'ledgerJob',
				type: 'string',
				default: '',
				required: true,
				placeholder: 'ticket-classification',
				description: 'The job as named in LLM Batch Call; records are kept per job name',
			},
			...operationProperties,
		],
	};

	methods = { credentialTest: { llmBatchPostgresConnectionTest } };

	async execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
		return await router(this);
	}
}
