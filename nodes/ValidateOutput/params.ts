import { NodeOperationError, type IExecuteFunctions } from 'n8n-workflow';
import { z } from 'zod';

import type { OutputCheckConfig } from '../../core/validate-output';
import { parseSchemaParam } from '../../core/schema';
import { configError } from '../shared/config';
import { defaultsOf, optionDefaultsOf, withDefaults } from '../shared/defaults';
import { properties } from './properties';

const schema = z.object({
	field: z
		.string()
		.trim()
		.min(1, 'Field is empty: name the field holding the answer, e.g. llm.output'),
	textField: z.string().trim(),
	jsonSchema: z.union([z.string(), z.record(z.unknown())]),
	useConfidence: z.boolean(),
	confidencePath: z.string().trim(),
	confidenceThreshold: z.number(),
	whenConfidenceMissing: z.enum(['review', 'valid']),
	options: z.object({
		parsedField: z.string().trim(),
		validationField: z.string().trim().min(1, 'Validation Field is empty'),
		attemptsField: z.string().trim(),
		spotCheckPercent: z
			.number()
			.min(0, 'Spot Check % cannot be below 0')
			.max(100, 'Spot Check % cannot be above 100'),
		spotCheckSeed: z.string(),
		recordIdField: z.string().trim(),
	}),
});

const DEFAULTS = defaultsOf(properties);
const OPTION_DEFAULTS = optionDefaultsOf(properties, 'options');

/** Node parameters -> core config; a bad schema or rule throws before any item is checked. */
export function readConfig(ctx: IExecuteFunctions): OutputCheckConfig {
	const p = (n: string) => ctx.getNodeParameter(n, 0, DEFAULTS[n]);
	const parsed = schema.safeParse({
		field: p('field'),
		textField: p('textField'),
		jsonSchema: p('jsonSchema'),
		useConfidence: p('useConfidence'),
		confidencePath: p('confidencePath'),
		confidenceThreshold: p('confidenceThreshold'),
		whenConfidenceMissing: p('whenConfidenceMissing'),
		options: withDefaults(OPTION_DEFAULTS, p('options')),
	});
	if (!parsed.success) throw configError(ctx.getNode(), parsed.error);
	const v = parsed.data;
	if (v.useConfidence && v.confidencePath === '') {
		throw new NodeOperationError(ctx.getNode(), 'Invalid configuration: Confidence Path is empty', {
			description: 'Parameter: confidencePath',
		});
	}

	let validator: OutputCheckConfig['schema'];
	const raw = v.jsonSchema;
	if (
		!(typeof raw === 'string' && raw.trim() === '') &&
		!(typeof raw === 'object' && Object.keys(raw).length === 0)
	) {
		const compiled = parseSchemaParam(raw);
		if (!compiled.ok) {
			throw new NodeOperationError(ctx.getNode(), `JSON Schema: ${compiled.message}`, {
				description: 'Fix the schema or leave it empty',
			});
		}
		validator = compiled.validate;
	}
	return {
		field: v.field,
		textField: v.textField,
		parsedField: v.options.parsedField || v.field,
		schema: validator,
		confidence: v.useConfidence
			? {
					path: v.confidencePath,
					threshold: v.confidenceThreshold,
					whenMissing: v.whenConfidenceMissing,
				}
			: undefined,
		validationField: v.options.validationField,
		attemptsField: v.options.attemptsField,
		spotCheck:
			v.options.spotCheckPercent > 0
				? {
						percent: v.options.spotCheckPercent,
						seed: v.options.spotCheckSeed,
						recordIdField: v.options.recordIdField,
					}
				: undefined,
	};
}
