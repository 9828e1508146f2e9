import { NodeOperationError, type IExecuteFunctions, type INodeProperties } from 'n8n-workflow';
import { z } from 'zod';

import type { EstimateConfig, FieldRule, PrepareConfig, PrepareInput } from '../../core/prepare';
import { parseSchemaParam } from '../../core/schema';
import { configError } from '../shared/config';
import { defaultsOf, optionDefaultsOf, withDefaults } from '../shared/defaults';

const fieldList = (raw: string) =>
	raw
		.split(',')
		.map((f) => f.trim())
		.filter((f) => f.length > 0);

const name = (label: string) => z.string().trim().min(1, `${label} is empty`);

const rule = z.object({
	field: name("A field rule's Field"),
	required: z.boolean().default(true),
	type: z.enum(['any', 'string', 'number', 'boolean', 'object', 'array']).default('any'),
	minLength: z.number().int().min(0).default(0),
	maxLength: z.number().int().min(0).default(0),
});

const prepareSchema = z
	.object({
		recordIdSource: z.enum(['hash', 'field']),
		recordIdField: z.string().trim(),
		hashFields: z.string(),
		fieldRules: z.object({ rules: z.array(rule).default([]) }).default({ rules: [] }),
		itemSchema: z.union([z.string(), z.record(z.unknown())]),
		dedupe: z.enum(['none', 'id', 'content']),
		contentFields: z.string(),
		sampling: z.enum(['none', 'first', 'random']),
		sampleSize: z
			.number()
			.int('Sample Size must be a whole number')
			.min(1, 'Sample Size must be at least 1'),
		sampleSeed: z.number().int('Seed must be a whole number'),
		chunking: z.enum(['none', 'count', 'tokens', 'group']),
		chunkSize: z
			.number()
			.int('Items per Chunk must be a whole number')
			.min(1, 'Items per Chunk must be at least 1'),
		tokenBudget: z.number().int().min(1, 'Tokens per Chunk must be at least 1'),
		tokenModel: z.string().trim(),
		groupField: z.string().trim(),
		groupMaxItems: z.number().int().min(0),
		chunkOutput: z.enum(['perItem', 'perChunk']),
		options: z.object({
			idField: name('Record ID Field'),
			chunkField: name('Chunk Field'),
			runField: name('Run Field'),
		}),
	})
	.superRefine((v, ctx) => {
		if (v.recordIdSource === 'field' && v.recordIdField === '') {
			ctx.addIssue({
				code: 'custom',
				path: ['recordIdField'],
				message: 'ID Field is empty: name the field holding the record ID',
			});
		}
		if (v.chunking === 'group' && v.groupField === '') {
			ctx.addIssue({ code: 'custom', path: ['groupField'], message: 'Group Key Field is empty' });
		}
		if (v.chunking === 'tokens' && v.tokenModel === '') {
			ctx.addIssue({
				code: 'custom',
				path: ['countModel'],
				message: 'Model (for Token Counts) is empty',
			});
		}
		v.fieldRules.rules.forEach((r, i) => {
			if (r.maxLength > 0 && r.minLength > r.maxLength) {
				ctx.addIssue({
					code: 'custom',
					path: ['fieldRules', i],
					message: `Rule for "${r.field}": Min Length is above Max Length`,
				});
			}
		});
	});

const estimateSchema = z.object({
	model: name('Model'),
	systemPrompt: z.string(),
	outputTokensPerItem: z.number().int().min(0),
	rpm: z.number().min(0, 'Requests per Minute cannot be negative'),
	tpm: z.number().min(0, 'Tokens per Minute cannot be negative'),
	estimateOptions: z.object({
		concurrency: z.number().int().min(1),
		avgLatencyMs: z.number().min(0),
		inputPricePer1M: z.number(),
		outputPricePer1M: z.number(),
		perItem: z.boolean(),
	}),
});

function fail(ctx: IExecuteFunctions, error: z.ZodError): never {
	throw configError(ctx.getNode(), error);
}

export function readOperation(ctx: IExecuteFunctions): 'prepare' | 'estimate' {
	const op = ctx.getNodeParameter('operation', 0, 'prepare');
	if (op !== 'prepare' && op !== 'estimate') {
		throw new NodeOperationError(ctx.getNode(), `Unknown operation "${String(op)}"`);
	}
	return op;
}

/** A node-level parameter, or the default its operation's description declares. */
function reader(ctx: IExecuteFunctions, properties: readonly INodeProperties[]) {
	const defaults = defaultsOf(properties);
	return (n: string) => ctx.getNodeParameter(n, 0, defaults[n]);
}

/**
 * Node-level parameters of Prepare Items -> core config; `properties` (the operation's own)
 * declare the defaults. Bad configuration throws before any item is touched.
 */
export function readPrepareConfig(
	ctx: IExecuteFunctions,
	properties: readonly INodeProperties[],
): PrepareConfig {
	const p = reader(ctx, properties);
	const parsed = prepareSchema.safeParse({
		recordIdSource: p('recordIdSource'),
		recordIdField: p('recordIdField'),
		hashFields: p('hashFields'),
		fieldRules: p('fieldRules'),
		itemSchema: p('itemSchema'),
		dedupe: p('dedupe'),
		contentFields: p('contentFields'),
		sampling: p('sampling'),
		sampleSize: p('sampleSize'),
		sampleSeed: p('sampleSeed'),
		chunking: p('chunking'),
		chunkSize: p('chunkSize'),
		tokenBudget: p('tokenBudget'),
		tokenModel: p('countModel'),
		groupField: p('groupField'),
		groupMaxItems: p('groupMaxItems'),
		chunkOutput: p('chunkOutput'),
		options: withDefaults(optionDefaultsOf(properties, 'options'), p('options')),
	});
	if (!parsed.success) fail(ctx, parsed.error);
	const v = parsed.data;

	let itemSchema: PrepareConfig['itemSchema'];
	const rawSchema = v.itemSchema;
	if (
		!(typeof rawSchema === 'string' && rawSchema.trim() === '') &&
		!(typeof rawSchema === 'object' && Object.keys(rawSchema).length === 0)
	) {
		const schema = parseSchemaParam(rawSchema);
		if (!schema.ok) {
			throw new NodeOperationError(ctx.getNode(), `Item JSON Schema: ${schema.message}`, {
				description: 'Fix the schema or leave it empty',
			});
		}
		itemSchema = schema.validate;
	}

	const rules: FieldRule[] = v.fieldRules.rules.map((r) => ({
		field: r.field,
		required: r.required,
		type: r.type,
		minLength: r.minLength > 0 ? r.minLength : undefined,
		maxLength: r.maxLength > 0 ? r.maxLength : undefined,
	}));

	return {
		recordId:
			v.recordIdSource === 'field'
				? { mode: 'field', field: v.recordIdField }
				: { mode: 'hash', fields: fieldList(v.hashFields) },
		idField: v.options.idField,
		dedupe: v.dedupe,
		contentFields: fieldList(v.contentFields),
		rules,
		itemSchema,
		sample:
			v.sampling === 'none'
				? { mode: 'none' }
				: v.sampling === 'first'
					? { mode: 'first', size: v.sampleSize }
					: { mode: 'random', size: v.sampleSize, seed: v.sampleSeed },
		chunking:
			v.chunking === 'none'
				? { mode: 'none' }
				: v.chunking === 'count'
					? { mode: 'count', size: v.chunkSize }
					: v.chunking === 'tokens'
						? { mode: 'tokens', budget: v.tokenBudget, model: v.tokenModel }
						: { mode: 'group', field: v.groupField, maxItems: v.groupMaxItems },
		chunkOutput: v.chunking === 'none' ? 'perItem' : v.chunkOutput,
		chunkField: v.options.chunkField,
		runField: v.options.runField,
	};
}

/**
 * The per-item parameters (expressions): the pre-filter and the text to count. A filter
 * expression that does not evaluate to a boolean is a configuration error, named with its item.
 */
export function readPrepareInputs(ctx: IExecuteFunctions, config: PrepareConfig): PrepareInput[] {
	const items = ctx.getInputData();
	return items.map((item, i) => {
		const keep = ctx.getNodeParameter('keepItem', i, true);
		if (typeof keep !== 'boolean') {
			throw new NodeOperationError(
				ctx.getNode(),
				`Keep Item If must be true or false, got ${JSON.stringify(keep)}`,
				{
					itemIndex: i,
					description: 'Use a comparison, e.g. {{ $json.label === undefined }}',
				},
			);
		}
		let tokenText: string | undefined;
		if (config.chunking.mode === 'tokens') {
			const text = ctx.getNodeParameter('countText', i, '');
			tokenText = typeof text === 'string' && text !== '' ? text : undefined;
		}
		return { json: item.json, keep, tokenText };
	});
}

/** Node-level parameters of Estimate Cost; `properties` (the operation's own) declare the defaults. */
export function readEstimateConfig(
	ctx: IExecuteFunctions,
	properties: readonly INodeProperties[],
): EstimateConfig {
	const p = reader(ctx, properties);
	const parsed = estimateSchema.safeParse({
		model: p('model'),
		systemPrompt: p('systemPrompt'),
		outputTokensPerItem: p('outputTokensPerItem'),
		rpm: p('rpm'),
		tpm: p('tpm'),
		estimateOptions: withDefaults(
			optionDefaultsOf(properties, 'estimateOptions'),
			p('estimateOptions'),
		),
	});
	if (!parsed.success) fail(ctx, parsed.error);
	const v = parsed.data;
	const o = v.estimateOptions;
	const override =
		o.inputPricePer1M >= 0 && o.outputPricePer1M >= 0
			? { [v.model]: { inputPer1M: o.inputPricePer1M, outputPer1M: o.outputPricePer1M } }
			: undefined;
	return {
		model: v.model,
		systemPrompt: v.systemPrompt || undefined,
		outputTokensPerItem: v.outputTokensPerItem,
		rpm: v.rpm,
		tpm: v.tpm,
		concurrency: o.concurrency,
		avgLatencyMs: o.avgLatencyMs,
		priceOverrides: override,
		perItem: o.perItem,
	};
}

/** Each item's prompt text for the estimate. */
export function readEstimateTexts(ctx: IExecuteFunctions): string[] {
	return ctx.getInputData().map((item, i) => {
		const text = ctx.getNodeParameter('text', i, null);
		if (text === null || text === undefined) return JSON.stringify(item.json);
		return typeof text === 'string' ? text : JSON.stringify(text);
	});
}
