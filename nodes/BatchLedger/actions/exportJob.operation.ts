import type { INodeExecutionData, INodeProperties } from 'n8n-workflow';

import { collect, pagingProperties, showFor, toItems, type LedgerRun } from './common';

export const description: INodeProperties[] = [
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
		displayOptions: showFor('exportJob'),
	},
	...pagingProperties('exportJob'),
];

/** One item per record of the job, optionally of one status. */
export async function execute({
	store,
	cfg,
}: LedgerRun<'exportJob'>): Promise<INodeExecutionData[][]> {
	const status = cfg.status === 'all' ? undefined : cfg.status;
	return [toItems(await collect(store, cfg.ledgerJob, status, cfg.limit))];
}
