import type { IExecuteFunctions, INodeExecutionData, INodeProperties } from 'n8n-workflow';
import { NodeOperationError } from 'n8n-workflow';

import type { LedgerWrite } from '../../../core/ledger';
import type { ItemError, LlmResult } from '../../../core/types';
import { resultFieldProperty } from '../../shared/descriptions';
import { outputOf } from '../../shared/items';
import { readRecordId } from '../params';
import { showFor, type LedgerRun } from './common';

const show = showFor('recordResults');

export const description: INodeProperties[] = [
	{
		displayName: 'Record ID',
		name: 'recordId',
		type: 'string',
		default: '={{ $json.llm?.recordId ?? $json.recordId ?? $json.id }}',
		displayOptions: show,
		description:
			'Stable ID of each record; Failed items carry no result, so their ID comes from the input fields',
	},
	{
		...resultFieldProperty('The field holding the LLM result (the Result Field of LLM Batch Call)'),
		displayOptions: show,
	},
];

type ResultWrite =
	| { kind: 'succeeded'; recordId: string; result: LlmResult; attempts: number }
	| { kind: 'failed'; recordId: string; promptHash: string; error: ItemError; attempts: number };

function isObject(v: unknown): v is Record<string, unknown> {
	return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Success items carry the result, Failed items `json.error`; anything else is a wiring mistake. */
/** Every item's write, read before the store is opened: a wiring mistake records nothing. */
export function readInput(
	ctx: IExecuteFunctions,
	items: INodeExecutionData[],
	{ resultField }: { resultField: string },
): ResultWrite[] {
	return items.map((item, i) => {
		const fail = (message: string) =>
			new NodeOperationError(ctx.getNode(), `Item ${i}: ${message}`, {
				itemIndex: i,
				description:
					'Connect the Success and Failed outputs of LLM Batch Call to this node; nothing was recorded.',
			});
		const read = readRecordId(ctx, i);
		if ('problem' in read) throw fail(`no record ID (the Record ID expression ${read.problem})`);
		const recordId = read.id;
		const result = item.json[resultField];
		if (isObject(result) && typeof result.promptHash === 'string') {
			const r = result as unknown as LlmResult;
			return {
				kind: 'succeeded',
				recordId,
				result: { ...r, recordId },
				attempts: Number(r.attempts) || 0,
			};
		}
		const error = item.json.error;
		if (isObject(error) && typeof error.code === 'string') {
			const e = error as unknown as ItemError & { promptHash?: unknown };
			const hash =
				typeof e.promptHash === 'string'
					? e.promptHash
					: typeof item.json.promptHash === 'string'
						? item.json.promptHash
						: '';
			return {
				kind: 'failed',
				recordId,
				promptHash: hash,
				error: e,
				attempts: Number(e.attempts) || 0,
			};
		}
		throw fail(`neither a result in "${resultField}" nor an error in "error"`);
	});
}

/** Writes Success and Failed items into the ledger in one transaction; items pass through. */
export async function execute(
	{ items, store, cfg, at }: LedgerRun<'recordResults'>,
	writes: ResultWrite[],
): Promise<INodeExecutionData[][]> {
	const existing = await store.getMany(cfg.ledgerJob, [...new Set(writes.map((w) => w.recordId))]);
	// The ledger counts attempts it saw start; for results recorded afterwards, raise the
	// count to what the call node reports instead of adding it twice.
	const seen = new Map<string, number>();
	const batch: LedgerWrite[] = writes.map((w) => {
		const before = seen.get(w.recordId) ?? existing.get(w.recordId)?.attempts ?? 0;
		const delta = Math.max(0, w.attempts - before);
		seen.set(w.recordId, before + delta);
		return w.kind === 'succeeded'
			? { type: 'succeeded', result: w.result, at, attemptsDelta: delta }
			: {
					type: 'failed',
					recordId: w.recordId,
					promptHash: w.promptHash,
					error: w.error,
					at,
					attemptsDelta: delta,
				};
	});
	await store.writeBatch(cfg.ledgerJob, batch);
	return [items.map((item, i) => outputOf(items, i, item.json))];
}
