import type { INodeExecutionData, INodeProperties } from 'n8n-workflow';

import { collect, pagingProperties, toItems, type LedgerRun } from './common';

export const description: INodeProperties[] = [...pagingProperties('getFailed')];

/** One item per failed record, with its last error. */
export async function execute({
	store,
	cfg,
}: LedgerRun<'getFailed'>): Promise<INodeExecutionData[][]> {
	return [toItems(await collect(store, cfg.ledgerJob, 'failed', cfg.limit))];
}
