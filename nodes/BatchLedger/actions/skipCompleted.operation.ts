import type {
	IDataObject,
	IExecuteFunctions,
	INodeExecutionData,
	INodeProperties,
} from 'n8n-workflow';
import { NodeOperationError } from 'n8n-workflow';

import { isCompletedFor, type LedgerWrite } from '../../../core/ledger';
import { recordIdProperty, resultFieldProperty } from '../../shared/descriptions';
import { outputOf } from '../../shared/items';
import { readRecordId } from '../params';
import { showFor, type LedgerRun } from './common';

const show = showFor('skipCompleted');

export const description: INodeProperties[] = [
	{
		...recordIdProperty('Stable ID of each record, the same one LLM Batch Call uses'),
		displayOptions: show,
	},
	{
		...resultFieldProperty('The field holding the LLM result (the Result Field of LLM Batch Call)'),
		displayOptions: show,
	},
	{
		displayName: 'Add Stored Result',
		name: 'includeResult',
		type: 'boolean',
		default: true,
		displayOptions: show,
		description:
			'Whether items on Completed get the stored result in the Result Field, as if LLM Batch Call had answered',
	},
	{
		displayName: 'Prompt',
		name: 'prompt',
		type: 'string',
		typeOptions: { rows: 3 },
		default: '',
		displayOptions: show,
		description:
			'Optional: the same Prompt expression as in LLM Batch Call. When set, a record whose stored answer was for another prompt goes to To Do, not Completed. Only the record ID and the prompt text are compared: this node does not know the model, settings, endpoint or credential, so an answer from another endpoint (a dry run) counts as Completed here — LLM Batch Call, given the record, compares all of them and sends it again.',
	},
	{
		displayName: 'System Prompt',
		name: 'systemPrompt',
		type: 'string',
		typeOptions: { rows: 2 },
		default: '',
		displayOptions: show,
		description: 'Optional: the same System Prompt as in LLM Batch Call (used with Prompt)',
	},
	{
		displayName: 'Register as Pending',
		name: 'registerPending',
		type: 'boolean',
		default: true,
		displayOptions: show,
		description:
			'Whether records new to the ledger are added with status pending, so Job Stats counts what is left',
	},
];

/** Every item's record ID, read before the store is opened: a bad expression writes nothing. */
export function readInput(ctx: IExecuteFunctions, items: INodeExecutionData[]): string[] {
	return items.map((_, i) => {
		const read = readRecordId(ctx, i);
		if ('problem' in read) {
			throw new NodeOperationError(ctx.getNode(), `Item ${i} has no record ID`, {
				itemIndex: i,
				description: `The Record ID expression ${read.problem}. Give every item a stable ID (Batch Prepare adds \`recordId\`) or change the expression.`,
			});
		}
		return read.id;
	});
}

/** The optional Prompt / System Prompt of each item (the same expressions as LLM Batch Call's). */
function readPrompts(
	ctx: IExecuteFunctions,
	items: INodeExecutionData[],
): Array<{ system: string; prompt: string }> {
	const text = (v: unknown) =>
		typeof v === 'string' ? v : v === undefined || v === null ? '' : String(v);
	return items.map((_, i) => ({
		prompt: text(ctx.getNodeParameter('prompt', i, '')),
		system: text(ctx.getNodeParameter('systemPrompt', i, '')),
	}));
}

/**
 * Two outputs: To Do (not yet succeeded, or succeeded for another prompt) and Completed
 * (with the stored result).
 */
export async function execute(
	{ ctx, items, store, cfg, at }: LedgerRun<'skipCompleted'>,
	ids: string[],
): Promise<INodeExecutionData[][]> {
	const prompts = readPrompts(ctx, items);
	const stored = await store.getMany(cfg.ledgerJob, [...new Set(ids)]);
	const todo: INodeExecutionData[] = [];
	const completed: INodeExecutionData[] = [];
	const register: LedgerWrite[] = [];
	items.forEach((item, i) => {
		const record = stored.get(ids[i]);
		if (record?.result && isCompletedFor(record, prompts[i])) {
			const json = cfg.includeResult
				? {
						...item.json,
						[cfg.resultField]: {
							...record.result,
							recordId: ids[i],
						} as unknown as IDataObject,
					}
				: item.json;
			completed.push(outputOf(items, i, json));
		} else {
			todo.push(outputOf(items, i, item.json));
			if (!record && cfg.registerPending) register.push({ type: 'pending', recordId: ids[i], at });
		}
	});
	await store.writeBatch(cfg.ledgerJob, register);
	return [todo, completed];
}
