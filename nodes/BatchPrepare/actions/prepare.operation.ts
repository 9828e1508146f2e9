import type {
	IDataObject,
	IExecuteFunctions,
	INodeExecutionData,
	INodeProperties,
} from 'n8n-workflow';

import { systemClock } from '../../../core/clock';
import { DEFAULT_MODEL, DEFAULT_RUN_FIELD } from '../../../core/defaults';
import { prepareItems, type PreparedItem } from '../../../core/prepare';
import { describeDuplicateIds } from '../../../core/record-id';
import { newRunId } from '../../../core/run-stamp';
import { outputOf } from '../../shared/items';
import { readPrepareConfig, readPrepareInputs } from '../params';
import type { PrepareDeps } from './context';

const prepare = { show: { operation: ['prepare'] } };
const prepareWith = (key: string, values: string[]) => ({
	show: { operation: ['prepare'], [key]: values },
});

export const description: INodeProperties[] = [
	{
		displayName: 'Record ID From',
		name: 'recordIdSource',
		type: 'options',
		noDataExpression: true,
		displayOptions: prepare,
		options: [
			{
				name: 'Content Hash',
				value: 'hash',
				description: 'SHA-256 of the chosen fields (stable key order), 16 hex characters',
			},
			{ name: 'Field', value: 'field', description: 'An ID the records already have' },
		],
		default: 'hash',
		description:
			'Where the stable record ID comes from; it is written to Record ID Field (default recordId)',
	},
	{
		displayName: 'ID Field',
		name: 'recordIdField',
		type: 'string',
		displayOptions: prepareWith('recordIdSource', ['field']),
		default: 'id',
		placeholder: 'e.g. ticketNumber or customer.ref',
		description:
			'Field holding the record ID (dots for nested fields). Items without it are rejected.',
	},
	{
		displayName: 'Hash Fields',
		name: 'hashFields',
		type: 'string',
		displayOptions: prepareWith('recordIdSource', ['hash']),
		default: '',
		placeholder: 'e.g. subject, body',
		description: 'Comma-separated fields whose content makes the ID; empty: the whole item',
	},
	{
		displayName: 'Keep Item If',
		name: 'keepItem',
		type: 'boolean',
		displayOptions: prepare,
		default: true,
		hint: 'Pre-filter: set an expression, e.g. {{ $json.label === undefined }}',
		description:
			'Whether to keep the item, evaluated per item. Items where it is false leave on Rejected (code invalid_input, reason filtered).',
	},
	{
		displayName: 'Field Rules',
		name: 'fieldRules',
		type: 'fixedCollection',
		typeOptions: { multipleValues: true },
		displayOptions: prepare,
		placeholder: 'Add Rule',
		default: {},
		description:
			'Checks before any spend; a failing item leaves on Rejected with every problem listed',
		options: [
			{
				name: 'rules',
				displayName: 'Rule',
				values: [
					{
						displayName: 'Field',
						name: 'field',
						type: 'string',
						default: '',
						placeholder: 'e.g. body',
					},
					{
						displayName: 'Max Length',
						name: 'maxLength',
						type: 'number',
						default: 0,
						description: 'Characters (text) or entries (list); 0: no maximum',
					},
					{
						displayName: 'Min Length',
						name: 'minLength',
						type: 'number',
						default: 0,
						description: 'Characters (text) or entries (list); 0: no minimum',
					},
					{
						displayName: 'Required',
						name: 'required',
						type: 'boolean',
						default: true,
						description: 'Whether the field must be present and not blank',
					},
					{
						displayName: 'Type',
						name: 'type',
						type: 'options',
						options: [
							{ name: 'Any', value: 'any' },
							{ name: 'Array', value: 'array' },
							{ name: 'Boolean', value: 'boolean' },
							{ name: 'Number', value: 'number' },
							{ name: 'Object', value: 'object' },
							{ name: 'String', value: 'string' },
						],
						default: 'any',
					},
				],
			},
		],
	},
	{
		displayName: 'Item JSON Schema',
		name: 'itemSchema',
		type: 'json',
		displayOptions: prepare,
		default: '',
		description:
			'Optional JSON Schema every whole item must match (checked with ajv, formats included)',
	},
	{
		displayName: 'Drop Duplicates',
		name: 'dedupe',
		type: 'options',
		noDataExpression: true,
		displayOptions: prepare,
		options: [
			{ name: 'No', value: 'none' },
			{ name: 'Same Record ID', value: 'id' },
			{ name: 'Same Content', value: 'content' },
		],
		default: 'none',
		description:
			'Later duplicates leave on Rejected with code duplicate and the index of the first one',
	},
	{
		displayName: 'Content Fields',
		name: 'contentFields',
		type: 'string',
		displayOptions: prepareWith('dedupe', ['content']),
		default: '',
		placeholder: 'e.g. body',
		description: 'Comma-separated fields compared for duplicates; empty: the whole item',
	},
	{
		displayName: 'Sample',
		name: 'sampling',
		type: 'options',
		noDataExpression: true,
		displayOptions: prepare,
		options: [
			{ name: 'All Items', value: 'none' },
			{ name: 'First N', value: 'first', description: 'Pilot run on the first N valid items' },
			{
				name: 'Random N (Seeded)',
				value: 'random',
				description: 'Reproducible random pilot sample',
			},
		],
		default: 'none',
		description: 'Items outside the sample leave on Rejected (reason not_sampled)',
	},
	{
		displayName: 'Sample Size',
		name: 'sampleSize',
		type: 'number',
		typeOptions: { minValue: 1 },
		displayOptions: prepareWith('sampling', ['first', 'random']),
		default: 20,
	},
	{
		displayName: 'Seed',
		name: 'sampleSeed',
		type: 'number',
		displayOptions: prepareWith('sampling', ['random']),
		default: 1,
		description: 'The same seed picks the same sample',
	},
	{
		displayName: 'Chunking',
		name: 'chunking',
		type: 'options',
		noDataExpression: true,
		displayOptions: prepare,
		options: [
			{ name: 'None', value: 'none' },
			{ name: 'By Item Count', value: 'count' },
			{
				name: 'By Token Budget',
				value: 'tokens',
				description: 'Pack items until the estimated tokens reach the budget',
			},
			{
				name: 'By Group Key',
				value: 'group',
				description: 'Keep all items with the same key value together',
			},
		],
		default: 'none',
	},
	{
		displayName: 'Items per Chunk',
		name: 'chunkSize',
		type: 'number',
		typeOptions: { minValue: 1 },
		displayOptions: prepareWith('chunking', ['count']),
		default: 50,
	},
	{
		displayName: 'Tokens per Chunk',
		name: 'tokenBudget',
		type: 'number',
		typeOptions: { minValue: 1 },
		displayOptions: prepareWith('chunking', ['tokens']),
		default: 8000,
		description: 'An item bigger than the budget gets a chunk of its own',
	},
	{
		displayName: 'Model (for Token Counts)',
		name: 'countModel',
		type: 'string',
		displayOptions: prepareWith('chunking', ['tokens']),
		default: DEFAULT_MODEL,
		description:
			'OpenAI models are counted exactly (gpt-tokenizer); others with the package estimate (by character class: CJK and code count more)',
	},
	{
		displayName: 'Text to Count',
		name: 'countText',
		type: 'string',
		displayOptions: prepareWith('chunking', ['tokens']),
		default: '',
		placeholder: 'e.g. {{ $json.subject }} {{ $json.body }}',
		description: 'Per item; empty: the whole item as JSON',
	},
	{
		displayName: 'Group Key Field',
		name: 'groupField',
		type: 'string',
		displayOptions: prepareWith('chunking', ['group']),
		default: '',
		placeholder: 'e.g. customerId',
	},
	{
		displayName: 'Max Items per Chunk',
		name: 'groupMaxItems',
		type: 'number',
		typeOptions: { minValue: 0 },
		displayOptions: prepareWith('chunking', ['group']),
		default: 0,
		description:
			'Pack whole groups into chunks of at most this many items (a bigger group stays whole); 0: one chunk per group',
	},
	{
		displayName: 'Chunk Output',
		name: 'chunkOutput',
		type: 'options',
		noDataExpression: true,
		displayOptions: { show: { operation: ['prepare'] }, hide: { chunking: ['none'] } },
		options: [
			{ name: 'One Item per Record (With Chunk Index and Size)', value: 'perItem' },
			{ name: 'One Item per Chunk (Holding the List)', value: 'perChunk' },
		],
		default: 'perItem',
	},
	{
		displayName: 'Options',
		name: 'options',
		type: 'collection',
		placeholder: 'Add Option',
		displayOptions: prepare,
		default: {},
		options: [
			{
				displayName: 'Record ID Field',
				name: 'idField',
				type: 'string',
				default: 'recordId',
				description: 'Where the record ID is written',
			},
			{
				displayName: 'Chunk Field',
				name: 'chunkField',
				type: 'string',
				default: 'chunk',
				description: 'Where chunk index, size and count are written',
			},
			{
				displayName: 'Run Field',
				name: 'runField',
				type: 'string',
				default: DEFAULT_RUN_FIELD,
				description:
					'Where the run stamp {ID, total, seq, startedAt} is written; Batch Report uses it to emit one report per run',
			},
		],
	},
];

/**
 * A record keeps its input item's binary data; a chunk item (Output: one item per chunk) is a
 * new item made of several records, so it carries none: their files stay with the records.
 */
function toItems(inputs: INodeExecutionData[], items: PreparedItem[]): INodeExecutionData[] {
	return items.map((item) =>
		item.sources.length === 1
			? outputOf(inputs, item.sources[0], item.json as IDataObject)
			: { json: item.json as IDataObject, pairedItem: item.sources.map((i) => ({ item: i })) },
	);
}

/** Ready and Rejected: stable IDs, validation, dedupe, sampling and chunking (core/prepare). */
export async function execute(
	ctx: IExecuteFunctions,
	deps: PrepareDeps = {},
): Promise<INodeExecutionData[][]> {
	const clock = deps.clock ?? systemClock;
	const config = readPrepareConfig(ctx, description);
	const inputs = readPrepareInputs(ctx, config);
	const runId = deps.runId?.() ?? newRunId(ctx.getExecutionId());
	const result = prepareItems(inputs, config, {
		id: runId,
		startedAt: new Date(clock.now()).toISOString(),
	});

	const { stats } = result;
	if (stats.rejected > 0) {
		const reasons = Object.entries(stats.byReason)
			.filter(([, n]) => n > 0)
			.map(([reason, n]) => `${n} ${reason}`)
			.join(', ');
		ctx.addExecutionHints({
			message: `${stats.ready} ready, ${stats.rejected} rejected (${reasons}) of ${stats.input} items${stats.chunks > 0 ? `; ${stats.chunks} chunks` : ''}`,
			type: stats.byReason.invalid > 0 ? 'warning' : 'info',
			location: 'outputPane',
		});
	}
	if (stats.duplicateIds)
		ctx.addExecutionHints({
			message: describeDuplicateIds(stats.duplicateIds),
			type: 'warning',
			location: 'outputPane',
		});
	const items = ctx.getInputData();
	return [toItems(items, result.ready), toItems(items, result.rejected)];
}
