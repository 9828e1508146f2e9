import type { IExecuteFunctions, INodeExecutionData, INodeProperties } from 'n8n-workflow';

import { cancelJob } from '../../../core/batch-api';
import { readBatchIds } from '../params';
import { openJob, type JobDeps } from './context';
import { batchIdsProperty, batchItem } from './items';

export const description: INodeProperties[] = [batchIdsProperty('cancel')];

/** Cancel: asks the provider to cancel the job's live batches; what had finished is still collected. */
export async function execute(
	ctx: IExecuteFunctions,
	deps: JobDeps = {},
): Promise<INodeExecutionData[][]> {
	const { cfg, job } = await openJob(ctx, deps);
	const statuses = await cancelJob(job, { batchIds: readBatchIds(ctx) });
	const paired = ctx.getInputData().length > 0 ? { item: 0 } : undefined;
	return [statuses.map((b) => ({ json: batchItem(cfg.jobName, b), pairedItem: paired })), []];
}
