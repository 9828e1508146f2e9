import type { INodeProperties, INodePropertyOptions } from 'n8n-workflow';

import { DEFAULT_MAX_TOKENS, DEFAULT_MODEL, DEFAULT_RESULT_FIELD } from '../../core/defaults';

/**
 * The parameters several nodes declare alike, declared once: the same names, defaults and
 * display rules everywhere, so a workflow (or a parameter copied between LLM Batch Call and
 * LLM Batch Job) means the same thing in each node.
 */

export const modelProperty: INodeProperties = {
	displayName: 'Model',
	name: 'model',
	type: 'string',
	required: true,
	default: DEFAULT_MODEL,
	placeholder: 'e.g. gpt-4o-mini, claude-3-5-haiku-latest, llama3.1',
	description: 'Model ID as the provider names it',
};

export const systemPromptProperty: INodeProperties = {
	displayName: 'System Prompt',
	name: 'systemPrompt',
	type: 'string',
	typeOptions: { rows: 3 },
	default: '',
	description: 'Instructions sent with every item',
};

export const promptProperty: INodeProperties = {
	displayName: 'Prompt',
	name: 'prompt',
	type: 'string',
	typeOptions: { rows: 4 },
	required: true,
	default: '={{ $json.text }}',
	description: 'The user message for each item; use an expression to build it from the item',
};

/** The expression every node reads a record's stable ID with, unless told otherwise. */
export const RECORD_ID_EXPRESSION = '={{ $json.recordId ?? $json.id }}';

/** Record ID: the same expression in each node; what the ID is used for is the node's to say. */
export function recordIdProperty(description: string): INodeProperties {
	return {
		displayName: 'Record ID',
		name: 'recordId',
		type: 'string',
		default: RECORD_ID_EXPRESSION,
		description,
	};
}

export const outputFormatProperty: INodeProperties = {
	displayName: 'Output Format',
	name: 'outputFormat',
	type: 'options',
	noDataExpression: true,
	options: [
		{ name: 'Text', value: 'text' },
		{
			name: 'JSON (Structured Output)',
			value: 'json',
			description: 'The answer must be JSON matching the schema below',
		},
	],
	default: 'text',
};

/** JSON Schema, shown for Output Format JSON; how the schema is used is the node's to say. */
export function jsonSchemaProperty(description: string): INodeProperties {
	return {
		displayName: 'JSON Schema',
		name: 'jsonSchema',
		type: 'json',
		displayOptions: { show: { outputFormat: ['json'] } },
		default:
			'{\n  "type": "object",\n  "properties": {\n    "category": { "type": "string" }\n  },\n  "required": ["category"]\n}',
		description,
	};
}

/** Result Field: where a successful item's result is (written by the LLM nodes, read by the others). */
export function resultFieldProperty(description: string): INodeProperties {
	return {
		displayName: 'Result Field',
		name: 'resultField',
		type: 'string',
		default: DEFAULT_RESULT_FIELD,
		description,
	};
}

/** Options of a request both LLM nodes send. */
export const contextWindowOption: INodeProperties = {
	displayName: 'Context Window (Tokens)',
	name: 'contextWindow',
	type: 'number',
	default: 0,
	description:
		'Prompt + max tokens limit per request. 0 = known value for the model (128k when unknown).',
};

export const maxTokensOption: INodeProperties = {
	displayName: 'Max Tokens',
	name: 'maxTokens',
	type: 'number',
	typeOptions: { minValue: 1 },
	default: DEFAULT_MAX_TOKENS,
	description: 'Maximum output tokens per answer',
};

export const temperatureOption: INodeProperties = {
	displayName: 'Temperature',
	name: 'temperature',
	type: 'number',
	typeOptions: { minValue: 0, maxValue: 2, numberPrecision: 2 },
	default: 0,
};

/** The two ledger stores (LLM Batch Call adds Off in front of them). */
export const ledgerStoreChoices: INodePropertyOptions[] = [
	{
		name: 'SQLite (Embedded)',
		value: 'sqlite',
		description: 'A file in the n8n user folder; for a single n8n process',
	},
	{
		name: 'PostgreSQL',
		value: 'postgres',
		description: 'Shared by several workers or a main + worker setup',
	},
];

export const ledgerSqlitePathProperty: INodeProperties = {
	displayName: 'SQLite File',
	name: 'ledgerSqlitePath',
	type: 'string',
	displayOptions: { show: { ledgerStore: ['sqlite'] } },
	default: '',
	placeholder: '/data/llm-batch-ledger.sqlite',
	description: 'Path of the ledger file. Empty = llm-batch-ledger.sqlite in the n8n user folder.',
};

/**
 * Records per Request: the same bounds and default in both LLM nodes; what becomes of a
 * grouped answer (split in the run, or by Collect) is the node's to say.
 */
export function recordsPerRequestOption(description: string): INodeProperties {
	return {
		displayName: 'Records per Request',
		name: 'recordsPerRequest',
		type: 'number',
		typeOptions: { minValue: 1, maxValue: 100 },
		default: 1,
		description,
	};
}

export const maxRecordTokensPerRequestOption: INodeProperties = {
	displayName: 'Max Record Tokens per Request',
	name: 'maxRecordTokensPerRequest',
	type: 'number',
	typeOptions: { minValue: 0 },
	default: 0,
	description:
		'With Records per Request above 1: a request also closes when its records reach this many (estimated) tokens. 0 = by count only.',
};

/**
 * Prompt Caching: the same choices and default in both LLM nodes; why the 1-hour entry pays
 * and how the cache is priced differ between a realtime run and a batch.
 */
export function promptCachingOption(wording: {
	oneHour: string;
	description: string;
}): INodeProperties {
	return {
		displayName: 'Prompt Caching',
		name: 'promptCaching',
		type: 'options',
		options: [
			{
				name: 'Auto (5-Minute Cache)',
				value: '5m',
				description:
					'Mark the system prompt and schema (and, Anthropic, the lines every prompt starts with) for the provider cache when long enough for the model',
			},
			{ name: 'Auto (1-Hour Cache, Anthropic)', value: '1h', description: wording.oneHour },
			{ name: 'Off', value: 'off' },
		],
		default: '5m',
		description: wording.description,
	};
}
