/**
 * LLM Batch Call's items out: every input item leaves on exactly one output, by its own index —
 * Success with the result under the Result Field, or Failed with the error (its outcome's, the
 * reason it was rejected before any call, or "not processed"). Plain JSON and indexes: the node
 * pairs each with its own input item (and the item's binary data).
 */
import type { Outcome } from './types';
import type { ItemError } from '../types';

type Json = Record<string, unknown>;

export interface OutputShape {
	readonly resultField: string;
	/** `all`: the input's fields plus the result; `result`: the record ID and the result only. */
	readonly outputFields: 'all' | 'result';
}

/** One output item: the JSON and the index of the input item it comes from. */
export interface ItemOut {
	readonly index: number;
	readonly json: Json;
}

export function callOutputs(
	inputs: readonly Json[],
	outcomes: readonly Outcome[],
	rejected: ReadonlyMap<number, ItemError>,
	shape: OutputShape,
): { success: ItemOut[]; failed: ItemOut[] } {
	const success: ItemOut[] = [];
	const failed: ItemOut[] = [];
	const byIndex = new Map<number, Outcome>();
	for (const o of outcomes) byIndex.set(o.index, o);
	for (let index = 0; index < inputs.length; index++) {
		// An earlier error (a looped-back item) is replaced: the item carries this run's outcome.
		const { error: previous, ...rest } = inputs[index];
		const o = byIndex.get(index);
		if (o?.ok) {
			success.push({ index, json: successJson(rest, o.result, shape) });
			continue;
		}
		const error: ItemError = o ? o.error : (rejected.get(index) ?? notProcessed());
		const history = (previous as { history?: ItemError['history'] } | undefined)?.history;
		failed.push({ index, json: { ...rest, error: history ? { ...error, history } : error } });
	}
	return { success, failed };
}

function successJson(
	rest: Json,
	result: Extract<Outcome, { ok: true }>['result'],
	shape: OutputShape,
): Json {
	if (shape.outputFields === 'all') return { ...rest, [shape.resultField]: result };
	return {
		recordId: result.recordId,
		// Batch Prepare's run stamp stays: Batch Report needs it to know the run is complete.
		...(rest.batchRun !== undefined ? { batchRun: rest.batchRun } : {}),
		[shape.resultField]: result,
	};
}

/** An item that got no outcome and was not rejected: never expected, but never lost either. */
export function notProcessed(): ItemError {
	return {
		code: 'invalid_input',
		message: 'Item was not processed',
		retryable: false,
		attempts: 0,
	};
}
