import type { INodeExecutionData, INodeProperties } from 'n8n-workflow';

import type { LedgerRun } from './common';

export const description: INodeProperties[] = [];

/** Deletes every record of the job and the cached responses it produced. */
export async function execute({
	store,
	cfg,
}: LedgerRun<'deleteJob'>): Promise<INodeExecutionData[][]> {
	const deleted = await store.deleteJob(cfg.ledgerJob);
	return [[{ json: { job: cfg.ledgerJob, deleted }, pairedItem: { item: 0 } }]];
}
