import type { IExecuteFunctions, INodeExecutionData, INodeProperties } from 'n8n-workflow';

import { jobStatus } from '../../../core/batch-api';
import { readBatchIds, readDeadline } from '../params';
import { openJob, type JobDeps } from './context';
import { batchIdsProperty, batchItem, deadlineOption } from './items';

export const description: INodeProperties[] = [
	batchIdsProperty('status'),
	{
		displayName: 'Options',
		name: 'statusOptions',
		type: 'collection',
		placeholder: 'Add Option',
		default: {},
		displayOptions: { show: { operation: ['status'] } },
		options: [deadlineOption],
	},
];

/**
 * Check Status: one summary item (Summary output) saying whether every batch has ended —
 * what an IF node or a Wait loop reads — and one item per batch (Batches output).
 */
export async function execute(
	ctx: IExecuteFunctions,
	deps: JobDeps = {},
): Promise<INodeExecutionData[][]> {
	const { cfg, job } = await openJob(ctx, deps);
	const options = ctx.getNodeParameter('statusOptions', 0, {}) as { deadline?: unknown };
	const deadline = readDeadline(ctx, options.deadline);
	const s = await jobStatus(job, { batchIds: readBatchIds(ctx), deadline });
	const paired = ctx.getInputData().map((_, item) => ({ item }));
	const summary: INodeExecutionData = {
		json: {
			job: cfg.jobName,
			provider: cfg.provider,
			batches: s.batches.length,
			ended: s.batches.filter((b) => b.state === 'ended').length,
			allEnded: s.allEnded,
			deadlineReached: s.deadlineReached,
			counts: { ...s.totals },
			checkedAt: new Date(job.clock.now()).toISOString(),
		},
		pairedItem: paired.length > 0 ? paired[0] : undefined,
	};
	const batches = s.batches.map((b) => ({
		json: batchItem(cfg.jobName, b, {
			requestCount: b.requestCount,
			round: b.round,
			collected: b.collected,
		}),
		pairedItem: paired.length > 0 ? paired[0] : undefined,
	}));
	return [[summary], batches];
}
