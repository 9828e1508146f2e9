import type { INodeExecutionData, INodeProperties } from 'n8n-workflow';

import { batchStoreFor } from '../../../core/batch-api/store/factory';
import { chunksJob, reportJob } from '../../../core/ledger/job-progress';
import type { LedgerRun } from './common';

export const description: INodeProperties[] = [];

/** Deletes every record of the job, the cached responses and the provider batches it recorded. */
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
	const deletedBatches = await batches.deleteJob(cfg.ledgerJob);
	return [[{ json: { job: cfg.ledgerJob, deleted, deletedBatches }, pairedItem: { item: 0 } }]];
}
