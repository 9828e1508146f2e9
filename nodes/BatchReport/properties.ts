import type { INodeProperties } from 'n8n-workflow';

import {
	DEFAULT_ERROR_FIELD,
	DEFAULT_RETRY_FIELD,
	DEFAULT_RUN_FIELD,
	DEFAULT_VALIDATION_FIELD,
} from '../../core/defaults';
import { resultFieldProperty } from '../shared/descriptions';
import { DEFAULT_CHART_PROPERTY } from './charts';

/** The parameters of Batch Report, in the order the editor shows them: the one declaration of their defaults. */
export const properties: INodeProperties[] = [
	{
		displayName:
			"Connect every final output here — Batch Prepare Rejected, Validate Output Valid / Invalid / Review, Route Failures Dead Letter / Filtered (or LLM Batch Call Success / Failed). n8n runs this node once per incoming branch and retry round, so by default the node collects the items of a run for the whole execution and emits one report when all the items Batch Prepare counted (or Collect Results, in a batch job's poll; json.batchRun.total) have arrived. No Merge node is needed, and one would not help: across a retry loop n8n runs a Merge once per round too.",
		name: 'notice',
		type: 'notice',
		default: '',
	},
	{
		displayName: 'Emit Report',
		name: 'emitWhen',
		type: 'options',
		noDataExpression: true,
		options: [
			{
				name: 'When the Whole Run Has Arrived',
				value: 'runComplete',
				description:
					'Collect across node runs until every item stamped by Batch Prepare or Collect Results is in; items without a stamp are reported per node run',
			},
			{
				name: 'From Batch Ledger Job Stats (Big Jobs)',
				value: 'jobStats',
				description:
					'The input is Batch Ledger Job Stats; one report of the whole job once no record is pending or processing — for jobs split over many executions',
			},
			{
				name: 'On Every Node Run',
				value: 'eachRun',
				description:
					'Report the items of this node run only: one branch without a retry loop feeding the node. Several branches give several partial reports (the node warns).',
			},
		],
		default: 'runComplete',
	},
	{
		displayName: 'Alert Thresholds',
		name: 'alerts',
		type: 'collection',
		placeholder: 'Add Threshold',
		default: {},
		description: 'When one is crossed the report also leaves on Alert',
		options: [
			{
				displayName: 'Min Success Rate (%)',
				name: 'minSuccessRatePct',
				type: 'number',
				default: 90,
				description: 'Success / (items − rejected)',
			},
			{
				displayName: 'Max Share of One Error Code (%)',
				name: 'maxErrorSharePct',
				type: 'number',
				default: 10,
				description: 'Of items that reached the model',
			},
			{
				displayName: 'Max Cost (USD)',
				name: 'maxCostUsd',
				type: 'number',
				typeOptions: { numberPrecision: 4 },
				default: 10,
			},
		],
	},
	{
		displayName: 'Project Full Run',
		name: 'projection',
		type: 'collection',
		placeholder: 'Add Projection Setting',
		default: {},
		description:
			'Run the pipeline on a Batch Prepare sample first: the report then projects the full run (cost, tokens, requests, failures, duration) onto its Report item as "projection", so an IF node can stop the full run when it is over budget',
		options: [
			{
				displayName: 'Budget (USD)',
				name: 'budgetUsd',
				type: 'number',
				typeOptions: { minValue: 0, numberPrecision: 2 },
				default: 0,
				description: 'Sets projection.overBudget when the projected cost is above. 0 = no budget.',
			},
			{
				displayName: 'Full Run Items',
				name: 'fullItems',
				type: 'number',
				typeOptions: { minValue: 0 },
				default: 0,
				description:
					'Items the full run will process (e.g. an expression reading the count before sampling). 0 = no projection.',
			},
			{
				displayName: 'Requests per Minute Limit',
				name: 'requestsPerMinute',
				type: 'number',
				typeOptions: { minValue: 0 },
				default: 0,
				description:
					"The full run's RPM limit, so the projected duration is never faster than the limit allows. 0 = none.",
			},
		],
	},
	{
		displayName: 'Cost Table',
		name: 'costTable',
		type: 'collection',
		placeholder: 'Add Cost Setting',
		default: {},
		description:
			"The report always has a cost table (costTable): cost per correct answer per model and in total, and what the same correct answers would have cost naive — one realtime call per item, no cache, no grouping, at the first model's list price",
		options: [
			{
				displayName: 'Compare With Model',
				name: 'compareModel',
				type: 'string',
				default: '',
				placeholder: 'e.g. gpt-4o',
				description:
					"Also price the correct answers on this model alone, from the same usage at its list price — a cheap-first cascade's strong model shows what the run would have cost without the cheap model",
			},
			{
				displayName: 'Naive Model',
				name: 'naiveModel',
				type: 'string',
				default: '',
				description:
					'The model the naive counterfactual is priced at. Empty: the model of the first LLM Batch Call (the one most items were sent to first).',
			},
		],
	},
	{
		displayName: 'Options',
		name: 'options',
		type: 'collection',
		placeholder: 'Add Option',
		default: {},
		options: [
			{
				displayName: 'Chart Property',
				name: 'chartProperty',
				type: 'string',
				default: DEFAULT_CHART_PROPERTY,
				description:
					"Binary property of the report item holding a PNG of the run's charts (outcomes, failures by code, throughput over time, cost by model) for a Slack or email node to send. Empty: no chart.",
			},
			{
				displayName: 'Error Field',
				name: 'errorField',
				type: 'string',
				default: DEFAULT_ERROR_FIELD,
			},
			{
				displayName: 'Filtered Codes',
				name: 'filteredCodes',
				type: 'string',
				default: 'content_filter',
				description: 'Comma-separated error codes counted as Filtered',
			},
			{
				displayName: 'Later Result Fields',
				name: 'laterResultFields',
				type: 'string',
				default: '',
				placeholder: 'e.g. strong',
				description:
					"Comma-separated Result Fields of later LLM Batch Call nodes that answered some items again with another model (a cheap-first cascade). Each one's cost counts; the last one an item has is its answer.",
			},
			resultFieldProperty("LLM Batch Call's result field"),
			{
				displayName: 'Retry Field',
				name: 'retryField',
				type: 'string',
				default: DEFAULT_RETRY_FIELD,
			},
			{
				displayName: 'Run Field',
				name: 'runField',
				type: 'string',
				default: DEFAULT_RUN_FIELD,
			},
			{
				displayName: 'Validation Field',
				name: 'validationField',
				type: 'string',
				default: DEFAULT_VALIDATION_FIELD,
			},
		],
	},
];
