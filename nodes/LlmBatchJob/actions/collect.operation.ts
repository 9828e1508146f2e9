import {
	NodeOperationError,
	type IDataObject,
	type IExecuteFunctions,
	type INodeExecutionData,
	type INodeProperties,
} from 'n8n-workflow';

import { collectJob, type CollectOutcome } from '../../../core/batch-api';
import { modelPricing } from '../../../core/call/pricing';
import { DEFAULT_RESULT_FIELD } from '../../../core/defaults';
import { createCheckpoint } from '../../../core/ledger';
import { isReservedField } from '../../../core/types';
import { resultFieldProperty } from '../../shared/descriptions';
import { outputItem } from '../../shared/items';
import { readBatchIds, readDeadline } from '../params';
import { openJob, type JobDeps } from './context';
import { batchIdsProperty, deadlineOption } from './items';
import { collectPairing, submittedBinary } from './pairing';

export const description: INodeProperties[] = [
	batchIdsProperty('collect'),
	{
		...resultFieldProperty(
			'Field each successful item gains, as in LLM Batch Call (output, text, usage, cost, batch ID)',
		),
		displayOptions: { show: { operation: ['collect'] } },
	},
	{
		displayName: 'Options',
		name: 'collectOptions',
		type: 'collection',
		placeholder: 'Add Option',
		default: {},
		displayOptions: { show: { operation: ['collect'] } },
		options: [
			deadlineOption,
			{
				displayName: 'Re-Emit Collected Records',
				name: 'reEmit',
				type: 'boolean',
				default: false,
				description:
					'Whether to emit again, from the ledger, the records earlier runs already collected (no provider call). Off: a second Collect emits only what is new.',
			},
		],
	},
];

/**
 * Collect Results: streams each ended batch's results, joins them to their records by
 * custom_id and emits every record once, on Success (the LLM Batch Call item contract,
 * cost at the batch price, plus the batch ID) or Failed (taxonomy code). The ledger gets
 * every result through the same group commits as LLM Batch Call.
 */
export async function execute(
	ctx: IExecuteFunctions,
	deps: JobDeps = {},
): Promise<INodeExecutionData[][]> {
	const { cfg, job, clock, notes } = await openJob(ctx, deps);
	const resultField =
		String(ctx.getNodeParameter('resultField', 0, DEFAULT_RESULT_FIELD)).trim() ||
		DEFAULT_RESULT_FIELD;
	if (isReservedField(resultField)) {
		throw new NodeOperationError(ctx.getNode(), `Result Field "${resultField}" is reserved`, {
			description:
				'Pick another name (e.g. llm): "error" marks failed items downstream, and names such as json or pairedItem would break the item; nothing was read.',
		});
	}
	const options = ctx.getNodeParameter('collectOptions', 0, {}) as {
		deadline?: unknown;
		reEmit?: boolean;
	};
	const deadline = readDeadline(ctx, options.deadline);
	const checkpoint = createCheckpoint(job.store, cfg.jobName, { clock });
	const paired = collectPairing(ctx);
	const binaryOf = submittedBinary(ctx);
	const success: INodeExecutionData[] = [];
	const failed: INodeExecutionData[] = [];
	// Each record becomes its output item as soon as it is decided: the stored input item is
	// parsed once and gains its field in place (no copies, nothing else held per record).
	const onOutcome = (o: CollectOutcome) => {
		const item = JSON.parse(o.entry.item) as IDataObject;
		if ('error' in item) delete item.error;
		const { batchId, itemIndex } = o.entry;
		const out = outputItem(item, paired(batchId, itemIndex), binaryOf(batchId, itemIndex));
		if (o.ok) {
			item[resultField] = o.result as unknown as IDataObject;
			success.push(out);
		} else {
			item.error = { ...o.error, recordId: o.entry.recordId } as unknown as IDataObject;
			failed.push(out);
		}
	};
	const res = await collectJob(job, {
		policy: {
			// The batch price: the model's own price × its batch discount, resolved as everywhere.
			costOf: modelPricing({}, { batch: true }).costOf,
			now: () => clock.now(),
		},
		checkpoint,
		batchIds: readBatchIds(ctx),
		deadline,
		reEmit: options.reEmit === true,
		onOutcome,
	});

	const parts = [
		`${success.length} succeeded, ${failed.length} failed from ${res.collected.length} batch(es)`,
	];
	if (res.pending.length > 0) parts.push(`${res.pending.length} batch(es) still running`);
	if (res.busy.length > 0)
		parts.push(
			`${res.busy.length} batch(es) being collected by another execution right now (it emits their records)`,
		);
	if (res.conflicts > 0)
		parts.push(
			`${res.conflicts} record(s) had two different answers in the results (Failed duplicate)`,
		);
	const g = res.grouped;
	if (g.groups > 0) {
		const alone = Object.values(g.alone).reduce((a, b) => a + b, 0);
		parts.push(
			`${g.groups} grouped request(s) read: ${g.answered} record(s) answered from them${alone > 0 ? `, ${alone} not attributed beyond doubt (Failed, retryable: the next Submit sends them alone)` : ''}${g.groupsFailed > 0 ? `, ${g.groupsFailed} grouped answer(s) unusable as a whole` : ''}`,
		);
	}
	if (res.unreadable > 0) parts.push(`${res.unreadable} result line(s) could not be read`);
	if (res.late > 0) parts.push(`${res.late} late answer(s) stored in the ledger`);
	if (res.unmatched > 0) parts.push(`${res.unmatched} result line(s) matched no record`);
	if (res.unadopted.length > 0)
		parts.push(
			`${res.unadopted.length} batch(es) adopted after a crash were not this job's (un-adopted; their records are submitted again by the next Submit)`,
		);
	for (const note of notes) parts.push(note);
	ctx.addExecutionHints?.({
		message: `Job ${cfg.jobName}: ${parts.join('; ')}`,
		type:
			failed.length > 0 || res.unmatched > 0 || res.unadopted.length > 0 || res.busy.length > 0
				? 'warning'
				: 'info',
		location: 'outputPane',
	});
	return [success, failed];
}
