import { NodeOperationError, type IExecuteFunctions, type INodeProperties } from 'n8n-workflow';
import { z } from 'zod';

import { configError } from '../shared/config';
import { defaultsOf, optionDefaultsOf, withDefaults } from '../shared/defaults';
import { groupingOptionFields } from '../shared/llm-params';

/** The parameters every operation shares: provider, job and ledger. */
const common = z.object({
	provider: z.enum(['openai', 'anthropic', 'gemini']),
	jobName: z
		.string()
		.trim()
		.min(
			1,
			'Job Name is empty: give the job a name (e.g. nightly-tickets); Collect finds its batches by it',
		),
	ledgerStore: z.enum(['sqlite', 'postgres']).default('sqlite'),
	ledgerSqlitePath: z.string().trim().default(''),
});

export type JobConfig = z.infer<typeof common>;

function fail(ctx: IExecuteFunctions, error: z.ZodError): never {
	throw configError(ctx.getNode(), error);
}

export function readJobConfig(ctx: IExecuteFunctions): JobConfig {
	const parsed = common.safeParse({
		provider: ctx.getNodeParameter('provider', 0),
		jobName: ctx.getNodeParameter('jobName', 0, ''),
		ledgerStore: ctx.getNodeParameter('ledgerStore', 0, 'sqlite'),
		ledgerSqlitePath: ctx.getNodeParameter('ledgerSqlitePath', 0, ''),
	});
	if (!parsed.success) fail(ctx, parsed.error);
	return parsed.data;
}

const submitOptions = z.object({
	attachments: z.string().trim(),
	maxTokens: z.number().int().positive(),
	temperature: z.number().min(0).max(2).optional(),
	contextWindow: z.number().int().min(0),
	batchSize: z.number().int().min(0, 'Batch Size must be 0 (provider cap) or more'),
	maxSubmissions: z.number().int().min(1, 'Max Submissions per Record must be 1 or more'),
	keepFiles: z.boolean(),
	...groupingOptionFields,
});

export interface SubmitConfig {
	model: string;
	outputFormat: 'text' | 'json';
	options: z.infer<typeof submitOptions>;
}

/**
 * Submit's parameters; `properties` (the operation's own) declare the defaults. An option not
 * added is its declared default, except Temperature (not added: the provider's own), as in
 * LLM Batch Call.
 */
export function readSubmitConfig(
	ctx: IExecuteFunctions,
	properties: readonly INodeProperties[],
): SubmitConfig {
	const optionDefaults = optionDefaultsOf(properties, 'options');
	delete optionDefaults.temperature;
	const parsed = z
		.object({
			model: z.string().trim().min(1, 'Model is empty: enter the model ID, e.g. gpt-4o-mini'),
			outputFormat: z.enum(['text', 'json']),
			options: submitOptions,
		})
		.safeParse({
			model: ctx.getNodeParameter('model', 0),
			outputFormat: ctx.getNodeParameter('outputFormat', 0, defaultsOf(properties).outputFormat),
			options: withDefaults(optionDefaults, ctx.getNodeParameter('options', 0, {})),
		});
	if (!parsed.success) fail(ctx, parsed.error);
	return parsed.data;
}

/** Batch IDs as a comma- or newline-separated list; empty = every batch of the job. */
export function readBatchIds(ctx: IExecuteFunctions): string[] {
	const raw = ctx.getNodeParameter('batchIds', 0, '') as string | string[];
	const list = Array.isArray(raw) ? raw : String(raw).split(/[\s,]+/);
	return list.map((s) => String(s).trim()).filter((s) => s !== '');
}

/** The Deadline option (a date-time); undefined when not set. */
export function readDeadline(ctx: IExecuteFunctions, value: unknown): number | undefined {
	if (value === undefined || value === null || value === '') return undefined;
	const ms =
		typeof value === 'number'
			? value
			: Date.parse(value instanceof Date ? value.toISOString() : String(value));
	if (!Number.isFinite(ms)) {
		throw new NodeOperationError(ctx.getNode(), `Deadline is not a date: ${String(value)}`, {
			description:
				'Give an ISO date-time, e.g. {{ $today.plus({ hours: 6 }).toISO() }}; nothing was called.',
		});
	}
	return ms;
}
