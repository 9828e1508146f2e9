import type { IExecuteFunctions, INodeExecutionData, INodeProperties } from 'n8n-workflow';

import {
	DEFAULT_MAX_SUBMISSIONS,
	PROVIDER_CAPS,
	resubmittable,
	submitRecords,
} from '../../../core/batch-api';
import { defaultsOf } from '../../shared/defaults';
import { openJob, type JobDeps } from './context';
import { batchItem } from './items';

export const description: INodeProperties[] = [
	{
		displayName: 'Max Submissions per Record',
		name: 'maxSubmissions',
		type: 'number',
		typeOptions: { minValue: 2 },
		default: DEFAULT_MAX_SUBMISSIONS,
		description:
			'A record is resubmitted until it has been in this many batches (the first submission counts)',
		displayOptions: { show: { operation: ['resubmit'] } },
	},
	{
		displayName: 'Batch Size',
		name: 'resubmitBatchSize',
		type: 'number',
		typeOptions: { minValue: 0 },
		default: 0,
		description: "Requests per provider batch. 0 = the provider's cap.",
		displayOptions: { show: { operation: ['resubmit'] } },
	},
];

/**
 * Resubmit: the job's records whose last outcome was retryable (server error, expired,
 * canceled…) go into a new batch of the same job, with the request stored at submission;
 * invalid requests are not resubmitted.
 */
export async function execute(
	ctx: IExecuteFunctions,
	deps: JobDeps = {},
): Promise<INodeExecutionData[][]> {
	const { cfg, job } = await openJob(ctx, deps);
	const defaults = defaultsOf(description);
	const param = (name: string) => Number(ctx.getNodeParameter(name, 0, defaults[name]));
	const maxRounds = Math.max(2, Math.floor(param('maxSubmissions')));
	const batchSize = Math.max(0, Math.floor(param('resubmitBatchSize')));
	const todo = await resubmittable(job, { maxRounds });
	const models = new Set(todo.records.map((r) => r.request.model));
	const created = [];
	for (const model of models) {
		const result = await submitRecords(
			job,
			todo.records.filter((r) => r.request.model === model),
			{ caps: PROVIDER_CAPS[cfg.provider], batchSize, model, maxSubmissions: maxRounds },
		);
		created.push(...result.created);
	}
	ctx.addExecutionHints?.({
		message: `Job ${cfg.jobName}: ${todo.records.length} record(s) resubmitted in ${created.length} batch(es); ${todo.overLimit} over the limit of ${maxRounds} submissions; ${todo.notRetryable} not retryable (not resubmitted)${todo.needFiles > 0 ? `; ${todo.needFiles} sent with files the ledger did not keep (Keep Files for Collect was off): run Submit again on their items (with the files) to send them` : ''}`,
		type: 'info',
		location: 'outputPane',
	});
	const paired = ctx.getInputData().length > 0 ? { item: 0 } : undefined;
	return [
		created.map((b) => ({
			json: batchItem(cfg.jobName, b, { requestCount: b.requestCount, round: b.round }),
			pairedItem: paired,
		})),
		[],
	];
}
