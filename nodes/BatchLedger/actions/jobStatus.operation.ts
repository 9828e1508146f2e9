import type { IDataObject, INodeExecutionData, INodeProperties } from 'n8n-workflow';

import { presentJobStatus } from '../../../core/status/present';
import { readJobStatus } from '../../../core/status/read';
import type { WatchdogRules } from '../../../core/status/watchdog';
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
	{
		displayName: 'Format',
		name: 'format',
		type: 'options',
		displayOptions: showFor('jobStatus'),
		options: [
			{ name: 'JSON', value: 'json', description: 'The status as JSON fields' },
			{
				name: 'HTML Page',
				value: 'html',
				description:
					'Also the status page in the field "html" (progress, ETA, charts; refreshes itself): answer a webhook with it through Respond to Webhook',
			},
		],
		default: 'json',
	},
	{
		displayName: 'Refresh Every (Seconds)',
		name: 'refreshSeconds',
		type: 'number',
		typeOptions: { minValue: 0 },
		displayOptions: { show: { operation: ['jobStatus'], format: ['html'] } },
		default: 10,
		description:
			'How often the open page fetches itself again and updates its numbers without a reload (until the job has finished). 0: a still page.',
	},
	{
		displayName: 'Alerts',
		name: 'alerts',
		type: 'collection',
		placeholder: 'Add Alert Rule',
		displayOptions: showFor('jobStatus'),
		default: {},
		description:
			'Watchdog rules: the item gets "alerts", a list (empty when all is well) an IF node can test and a Slack or email node can send',
		options: [
			{
				displayName: 'Alert When Stalled',
				name: 'alertWhenStalled',
				type: 'boolean',
				default: true,
				description:
					'Whether to alert when the job has made no progress for Stalled After (Minutes), naming its last progress time',
			},
			{
				displayName: 'Min Items Done',
				name: 'minDone',
				type: 'number',
				typeOptions: { minValue: 0 },
				default: 50,
				description: 'Items done before the success rate is judged',
			},
			{
				displayName: 'Min Success Rate (%)',
				name: 'minSuccessRatePct',
				type: 'number',
				typeOptions: { minValue: 0, maxValue: 100 },
				default: 95,
				description: 'Alert when succeeded / done is below',
			},
			{
				displayName: 'Time per Item Factor',
				name: 'slowdownFactor',
				type: 'number',
				typeOptions: { minValue: 1.1, numberPrecision: 1 },
				default: 2,
				description: "Alert when time per item now is this many times the job's first minutes",
			},
		],
	},
];

/** The Alerts collection as the watchdog's rules (percent to a share). */
export function watchdogRules(a: {
	minSuccessRatePct?: number;
	minDone?: number;
	slowdownFactor?: number;
	alertWhenStalled?: boolean;
}): WatchdogRules {
	return {
		...(a.minSuccessRatePct !== undefined ? { minSuccessRate: a.minSuccessRatePct / 100 } : {}),
		...(a.minDone !== undefined ? { minDone: a.minDone } : {}),
		...(a.slowdownFactor !== undefined ? { slowdownFactor: a.slowdownFactor } : {}),
		...(a.alertWhenStalled !== undefined ? { stalled: a.alertWhenStalled } : {}),
	};
}

/**
 * One item: the job's live status (core/status/read.ts) — the records' counts and cost joined
 * with the heartbeats of every execution and worker taking part — read while the job runs;
 * with the watchdog's alerts when a rule is set and the status page for the HTML format
 * (core/status/present.ts).
 */
export async function execute({
	store,
	cfg,
	now,
}: LedgerRun<'jobStatus'>): Promise<INodeExecutionData[][]> {
	const at = now();
	const status = await readJobStatus(store, cfg.ledgerJob, {
		now: at,
		stallMs: cfg.stallMinutes * 60_000,
		expectedTotal: cfg.expectedTotal,
	});
	const json = presentJobStatus(status, {
		format: cfg.format,
		refreshSeconds: cfg.refreshSeconds,
		rules: watchdogRules(cfg.alerts),
		now: at,
	});
	return [[{ json: json as unknown as IDataObject, pairedItem: { item: 0 } }]];
}
