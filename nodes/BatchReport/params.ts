import type { IExecuteFunctions } from 'n8n-workflow';
import { z } from 'zod';

import {
	DEFAULT_ERROR_FIELD,
	DEFAULT_RESULT_FIELD,
	DEFAULT_RETRY_FIELD,
	DEFAULT_RUN_FIELD,
	DEFAULT_VALIDATION_FIELD,
} from '../../core/defaults';
import type { AlertThresholds, ReportFields } from '../../core/report';
import type { ProjectionOptions } from '../../core/report/projection';
import { configError } from '../shared/config';

const field = (label: string, fallback: string) =>
	z.string().trim().min(1, `${label} is empty`).default(fallback);
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
	projection: z
		.object({
			fullItems: z.number().int().min(0, 'Full Run Items cannot be negative').default(0),
			requestsPerMinute: z.number().min(0).default(0),
			budgetUsd: z.number().min(0).default(0),
		})
		.default({}),
	options: z
		.object({
			resultField: field('Result Field', DEFAULT_RESULT_FIELD),
			errorField: field('Error Field', DEFAULT_ERROR_FIELD),
			validationField: field('Validation Field', DEFAULT_VALIDATION_FIELD),
			retryField: field('Retry Field', DEFAULT_RETRY_FIELD),
			runField: field('Run Field', DEFAULT_RUN_FIELD),
			filteredCodes: z.string().default('content_filter'),
		})
		.default({}),
});

export interface ReportConfig {
	emitWhen: 'runComplete' | 'eachRun' | 'jobStats';
	thresholds: AlertThresholds;
	fields: ReportFields;
	/** Project the full run from this (sample) report; undefined when Full Run Items is 0. */
	projection?: ProjectionOptions;
}

export function readConfig(ctx: IExecuteFunctions): ReportConfig {
	const parsed = schema.safeParse({
		emitWhen: ctx.getNodeParameter('emitWhen', 0, 'runComplete'),
		alerts: ctx.getNodeParameter('alerts', 0, {}),
		projection: ctx.getNodeParameter('projection', 0, {}),
		options: ctx.getNodeParameter('options', 0, {}),
	});
	if (!parsed.success) throw configError(ctx.getNode(), parsed.error);
	const { emitWhen, alerts, options, projection } = parsed.data;
	return {
		emitWhen,
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
