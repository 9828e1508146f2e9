import type { IDataObject, INodeExecutionData, INodeProperties } from 'n8n-workflow';

import { claimOwner } from '../../../core/ledger/checkpoint';
import { jobProgress } from '../../../core/ledger/job-progress';
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
	{
		displayName: 'Chunks in the Job',
		name: 'jobChunks',
		type: 'number',
		typeOptions: { minValue: 0 },
		displayOptions: showFor('stats'),
		default: 0,
		description:
			'For a job whose chunks read their own records (nothing registered up front): how many chunks the job has (an expression reading the chunk request). This chunk is marked done in the ledger first, and the job counts as complete only once every chunk is marked and no record is pending or processing. 0: the records were registered up front.',
	},
	{
		displayName: 'This Chunk',
		name: 'chunk',
		type: 'string',
		displayOptions: showFor('stats'),
		default: '',
		description:
			'The chunk this execution ran (its number or offset, the same text when it runs again). Required when Chunks in the Job is set.',
	},
];

/** One item with counts by status, attempts, tokens, cost and errors by code. */
export async function execute({
	store,
	cfg,
	at,
	now,
}: LedgerRun<'stats'>): Promise<INodeExecutionData[][]> {
	const counted = cfg.jobChunks > 0 || cfg.chunk !== '';
	const progress = await jobProgress(store, cfg.ledgerJob, {
		chunk: cfg.chunk,
		chunks: cfg.jobChunks,
		claimReport: cfg.claimReport,
		owner: claimOwner(),
		at,
		now: now(),
	});
	const { complete, ...stats } = progress;
	// `complete` only where it adds to the counts (chunks), so plain stats keep their shape.
	const json: IDataObject = { ...(stats as unknown as IDataObject) };
	if (counted) json.complete = complete;
	return [[{ json, pairedItem: { item: 0 } }]];
}
