import type { IDataObject, INodeExecutionData, INodeProperties } from 'n8n-workflow';

import type { LedgerRun } from './common';

export const description: INodeProperties[] = [];

/** One item with counts by status, attempts, tokens, cost and errors by code. */
export async function execute({ store, cfg }: LedgerRun<'stats'>): Promise<INodeExecutionData[][]> {
	const stats = await store.stats(cfg.ledgerJob);
	return [[{ json: stats as unknown as IDataObject, pairedItem: { item: 0 } }]];
}
