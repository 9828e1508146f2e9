import type {
	IDataObject,
	IExecuteFunctions,
	INodeExecutionData,
	INodeProperties,
} from 'n8n-workflow';
import { NodeOperationError } from 'n8n-workflow';

import type { LedgerWrite } from '../../../core/ledger';
import { readRecordId } from '../params';
import { showFor, type LedgerRun } from './common';

const show = showFor('skipCompleted');

export const description: INodeProperties[] = [
	{
		displayName: 'Record ID',
		name: 'recordId',
		type: 'string',
		default: '={{ $json.recordId ?? $json.id }}',
		displayOptions: show,
		description: 'Stable ID of each record, the same one LLM Batch Call uses',
	},
	{
		displayName: 'Result Field',
		name: 'resultField',
		type: 'string',
		default: 'llm',
		displayOptions: show,
		description: 'The field holding the LLM result (the Result Field of LLM Batch Call)',
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
		const id = readRecordId(ctx, i);
		if (id === '') {
			throw new NodeOperationError(ctx.getNode(), `Item ${i} has no record ID`, {
				itemIndex: i,
				description:
					'The Record ID expression resolved to nothing. Give every item a stable ID (Batch Prepare adds `recordId`) or change the expression.',
			});
		}
		return id;
	});
}

/** Two outputs: To Do (not yet succeeded) and Completed (with the stored result). */
export async function execute(
	{ items, store, cfg, at }: LedgerRun<'skipCompleted'>,
	ids: string[],
): Promise<INodeExecutionData[][]> {
	const stored = await store.getMany(cfg.ledgerJob, [...new Set(ids)]);
	const todo: INodeExecutionData[] = [];
	const completed: INodeExecutionData[] = [];
	const register: LedgerWrite[] = [];
	items.forEach((item, i) => {
		const record = stored.get(ids[i]);
		if (record?.status === 'succeeded' && record.result) {
			const json = cfg.includeResult
				? {
						...item.json,
						[cfg.resultField]: {
							...record.result,
							recordId: ids[i],
						} as unknown as IDataObject,
					}
				: item.json;
			completed.push({ json, pairedItem: { item: i } });
		} else {
			todo.push({ json: item.json, pairedItem: { item: i } });
			if (!record && cfg.registerPending) register.push({ type: 'pending', recordId: ids[i], at });
		}
	});
	await store.writeBatch(cfg.ledgerJob, register);
	return [todo, completed];
}
