import type { IDataObject, INodeExecutionData, INodeProperties } from 'n8n-workflow';

import { claimOwner } from '../../../core/ledger/checkpoint';
import { showFor, type LedgerRun } from './common';

export const description: INodeProperties[] = [
	{
		displayName: 'Claim the Job Report',
		name: 'claimReport',
		type: 'boolean',
		displayOptions: showFor('stats'),
		default: false,
		description:
			'Whether to claim, atomically in the ledger, the right to report the job once it is complete: exactly one execution gets reportClaimed = true (for a job split into chunks, whichever chunk finishes last); Batch Report (From Batch Ledger Job Stats) reports only then',
	},
];

/** A claim on the job's report lasts a day: the same job name rerun later reports again. */
const REPORT_CLAIM_MS = 24 * 60 * 60_000;

/** One item with counts by status, attempts, tokens, cost and errors by code. */
export async function execute({
	store,
	cfg,
	at,
	now,
}: LedgerRun<'stats'>): Promise<INodeExecutionData[][]> {
	const stats = await store.stats(cfg.ledgerJob);
	const json: IDataObject = { ...(stats as unknown as IDataObject) };
	if (cfg.claimReport) {
		const complete = stats.total > 0 && stats.pending === 0 && stats.processing === 0;
		let claimed = false;
		if (complete) {
			// A record of its own job ("<job>#report"), so the job's own stats never count it.
			const states = await store.claim(
				`${cfg.ledgerJob}#report`,
				[{ recordId: 'report', promptHash: '' }],
				claimOwner(),
				at,
				new Date(now() + REPORT_CLAIM_MS).toISOString(),
			);
			claimed = states.get('report')?.status === 'claimed';
		}
		json.reportClaimed = claimed;
	}
	return [[{ json, pairedItem: { item: 0 } }]];
}
