import type { IDataObject, INodeExecutionData, INodeProperties } from 'n8n-workflow';

import { readJobStatus } from '../../../core/status/read';
import { showFor, type LedgerRun } from './common';

export const description: INodeProperties[] = [
	{
		displayName: 'Records in the Job',
		name: 'expectedTotal',
		type: 'number',
		typeOptions: { minValue: 0 },
		displayOptions: showFor('jobStatus'),
		default: 0,
		description:
			"How many records the job will have, when the ledger cannot know yet: a job split into chunks whose later chunks have not started (an expression reading the job request). 0: the ledger's records and the running executions' items.",
	},
	{
		displayName: 'Stalled After (Minutes)',
		name: 'stallMinutes',
		type: 'number',
		typeOptions: { minValue: 0.1 },
		displayOptions: showFor('jobStatus'),
		default: 5,
		description:
			'A job with records left and no progress for this long is reported as stalled (state "stalled"), even while its executions still send heartbeats',
	},
];

/**
 * One item: the job's live status (core/status/read.ts) — the records' counts and cost joined
 * with the heartbeats of every execution and worker taking part — read while the job runs.
 */
export async function execute({
	store,
	cfg,
	now,
}: LedgerRun<'jobStatus'>): Promise<INodeExecutionData[][]> {
	const status = await readJobStatus(store, cfg.ledgerJob, {
		now: now(),
		stallMs: cfg.stallMinutes * 60_000,
		expectedTotal: cfg.expectedTotal,
	});
	return [[{ json: status as unknown as IDataObject, pairedItem: { item: 0 } }]];
}
