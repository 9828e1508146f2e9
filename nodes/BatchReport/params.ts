import type { IExecuteFunctions } from 'n8n-workflow';
import { z } from 'zod';

import type { AlertThresholds, ReportFields } from '../../core/report';
import type { ProjectionOptions } from '../../core/report/projection';
import { configError } from '../shared/config';
import { defaultsOf, optionDefaultsOf, withDefaults } from '../shared/defaults';
import { properties } from './properties';

const field = (label: string) => z.string().trim().min(1, `${label} is empty`);
const pct = (label: string) =>
	z.number().min(0, `${label} must be 0-100`).max(100, `${label} must be 0-100`).optional();

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
	options: z.object({
		resultField: field('Result Field'),
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

export interface ReportConfig {
	emitWhen: 'runComplete' | 'eachRun' | 'jobStats';
	thresholds: AlertThresholds;
	fields: ReportFields;
	/** Binary property for the charts' PNG; undefined: no chart. */
	chartProperty?: string;
	/** Project the full run from this (sample) report; undefined when Full Run Items is 0. */
	projection?: ProjectionOptions;
}

export function readConfig(ctx: IExecuteFunctions): ReportConfig {
	const parsed = schema.safeParse({
		emitWhen: ctx.getNodeParameter('emitWhen', 0, DEFAULTS.emitWhen),
		alerts: ctx.getNodeParameter('alerts', 0, {}),
		projection: withDefaults(PROJECTION_DEFAULTS, ctx.getNodeParameter('projection', 0, {})),
		options: withDefaults(OPTION_DEFAULTS, ctx.getNodeParameter('options', 0, {})),
	});
	if (!parsed.success) throw configError(ctx.getNode(), parsed.error);
	const { emitWhen, alerts, options, projection } = parsed.data;
	return {
		emitWhen,
		chartProperty: options.chartProperty || undefined,
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
			errorField: options.errorField,
			validationField: options.validationField,
			retryField: options.retryField,
			runField: options.runField,
			filteredCodes: new Set(
				options.filteredCodes
					.split(',')
					.map((c) => c.trim())
					.filter(Boolean),
			),
		},
	};
}
