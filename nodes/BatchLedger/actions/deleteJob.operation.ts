import type { INodeExecutionData, INodeProperties } from 'n8n-workflow';

import { batchStoreFor } from '../../../core/batch-api/store/factory';
import { heartbeatStoreFor } from '../../../core/ledger/heartbeat';
import { chunksJob, reportJob } from '../../../core/ledger/job-progress';
import type { LedgerRun } from './common';

export const description: INodeProperties[] = [];

/**
 * Deletes every record of the job, the cached responses, the provider batches it recorded with
 * the files kept for them (those no other job refers to), and its heartbeats.
 */
export async function execute({
	store,
	cfg,
}: LedgerRun<'deleteJob'>): Promise<INodeExecutionData[][]> {
	const deleted = await store.deleteJob(cfg.ledgerJob);
	// Its chunk marks and report claim too: a new job of the same name starts from nothing.
	await store.deleteJob(chunksJob(cfg.ledgerJob));
	await store.deleteJob(reportJob(cfg.ledgerJob));
	// LLM Batch Job's batches of the job too: otherwise a new Submit would skip its records
	// as still "in a batch".
	const batches = batchStoreFor(store);
	await batches.init();
	const gone = await batches.deleteJob(cfg.ledgerJob);
	// And its heartbeats: Job Status of a new job of the same name shows only its own runs.
	await heartbeatStoreFor(store).deleteJob(cfg.ledgerJob);
	return [
		[
			{
				json: {
					job: cfg.ledgerJob,
					deleted,
					deletedBatches: gone.batches,
					deletedFiles: gone.files,
				},
				pairedItem: { item: 0 },
			},
		],
	];
}
