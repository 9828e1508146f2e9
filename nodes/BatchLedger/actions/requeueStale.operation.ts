import type { INodeExecutionData, INodeProperties } from 'n8n-workflow';

import { showFor, toItems, type LedgerRun } from './common';

const show = showFor('requeueStale');

export const description: INodeProperties[] = [
	{
		displayName: 'Older Than (Minutes)',
		name: 'olderThanMinutes',
		type: 'number',
		default: 30,
		typeOptions: { minValue: 0 },
		displayOptions: show,
		description: 'A record still processing after this long belongs to a run that died',
	},
	{
		displayName: 'Requeue',
		name: 'requeue',
		type: 'boolean',
		default: true,
		displayOptions: show,
		description: 'Whether to set the stale records back to pending; off only lists them',
	},
];

/** Records stuck in processing (a run that died): listed, and set back to pending unless asked not to. */
export async function execute({
	store,
	cfg,
	at,
	now,
}: LedgerRun<'requeueStale'>): Promise<INodeExecutionData[][]> {
	const cutoff = new Date(now() - cfg.olderThanMinutes * 60_000).toISOString();
	const records = cfg.requeue
		? await store.requeueStale(cfg.ledgerJob, cutoff, at)
		: // listStale has no keyset paging; stale records are few, one large page is enough.
			await store.listStale(cfg.ledgerJob, cutoff, 100_000);
	return [toItems(records)];
}
