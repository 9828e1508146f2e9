import type { IExecuteFunctions } from 'n8n-workflow';
import { z } from 'zod';

import { priceFor } from '../../core/cost';
import type { AlertThresholds, ReportFields } from '../../core/report';
import type { ProjectionOptions } from '../../core/report/projection';
import { configError } from '../shared/config';
import { defaultsOf, optionDefaultsOf, withDefaults } from '../shared/defaults';
import { properties } from './properties';

const field = (label: string) => z.string().trim().min(1, `${label} is empty`);
const pct = (label: string) =>
	z.number().min(0, `${label} must be 0-100`).max(100, `${label} must be 0-100`).optional();

/** Empty, or a model the price table knows: the counterfactuals are priced at list price. */
const listPriced = (label: string) =>
	z
		.string()
		.trim()
		.refine(
			(m) => m === '' || priceFor(m) !== undefined,
			(m) => ({
				message: `${label} "${m}" has no list price in the package's price table; name a known model (e.g. gpt-4o, claude-sonnet-4-5) or leave it empty`,
			}),
		);

const schema = z.object({
	emitWhen: z.enum(['runComplete', 'eachRun', 'jobStats']),
	alerts: z
		.object({
			minSuccessRatePct: pct('Min Success Rate'),
			maxErrorSharePct: pct('Max Share of One Error Code'),
			maxCostUsd: z.number().min(0, 'Max Cost cannot be negative').optional(),
		})
		.default({}),
	projection: z.object({
		fullItems: z.number().int().min(0, 'Full Run Items cannot be negative'),
		requestsPerMinute: z.number().min(0),
		budgetUsd: z.number().min(0),
	}),
	costTable: z.object({
		compareModel: listPriced('Compare With Model'),
		naiveModel: listPriced('Naive Model'),
	}),
	options: z.object({
		resultField: field('Result Field'),
		laterResultFields: z.string(),
		errorField: field('Error Field'),
		validationField: field('Validation Field'),
		retryField: field('Retry Field'),
		runField: field('Run Field'),
		filteredCodes: z.string(),
		chartProperty: z.string().trim(),
	}),
});

/**
 * What the editor declares, for what is not set. An alert threshold not added is no alert
 * (its default is only what the editor offers once it is added).
 */
const DEFAULTS = defaultsOf(properties);
const PROJECTION_DEFAULTS = optionDefaultsOf(properties, 'projection');
const OPTION_DEFAULTS = optionDefaultsOf(properties, 'options');
const COST_TABLE_DEFAULTS = optionDefaultsOf(properties, 'costTable');

export interface ReportConfig {
	emitWhen: 'runComplete' | 'eachRun' | 'jobStats';
	thresholds: AlertThresholds;
	fields: ReportFields;
	/** Binary property for the charts' PNG; undefined: no chart. */
	chartProperty?: string;
	/** Project the full run from this (sample) report; undefined when Full Run Items is 0. */
	projection?: ProjectionOptions;
	/** The cost table's counterfactual models (undefined: the run's primary; none). */
	costTable: { naiveModel?: string; compareModel?: string };
}

const list = (csv: string) =>
	csv
		.split(',')
		.map((c) => c.trim())
		.filter(Boolean);

export function readConfig(ctx: IExecuteFunctions): ReportConfig {
	const parsed = schema.safeParse({
		emitWhen: ctx.getNodeParameter('emitWhen', 0, DEFAULTS.emitWhen),
		alerts: ctx.getNodeParameter('alerts', 0, {}),
		projection: withDefaults(PROJECTION_DEFAULTS, ctx.getNodeParameter('projection', 0, {})),
		options: withDefaults(OPTION_DEFAULTS, ctx.getNodeParameter('options', 0, {})),
		costTable: withDefaults(COST_TABLE_DEFAULTS, ctx.getNodeParameter('costTable', 0, {})),
	});
	if (!parsed.success) throw configError(ctx.getNode(), parsed.error);
	const { emitWhen, alerts, options, projection, costTable } = parsed.data;
	return {
		emitWhen,
		chartProperty: options.chartProperty || undefined,
		costTable: {
			...(costTable.naiveModel ? { naiveModel: costTable.naiveModel } : {}),
			...(costTable.compareModel ? { compareModel: costTable.compareModel } : {}),
		},
		projection: projection.fullItems > 0 ? projection : undefined,
		thresholds: {
			minSuccessRate:
				alerts.minSuccessRatePct === undefined ? undefined : alerts.minSuccessRatePct / 100,
			maxErrorShare:
				alerts.maxErrorSharePct === undefined ? undefined : alerts.maxErrorSharePct / 100,
			maxCostUsd: alerts.maxCostUsd,
		},
		fields: {
			resultField: options.resultField,
			laterResultFields: list(options.laterResultFields),
			errorField: options.errorField,
			validationField: options.validationField,
			retryField: options.retryField,
			runField: options.runField,
			filteredCodes: new Set(list(options.filteredCodes)),
		},
	};
}
