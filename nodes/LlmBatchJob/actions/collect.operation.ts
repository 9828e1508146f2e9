import {
	NodeOperationError,
	type IDataObject,
	type IExecuteFunctions,
	type INodeExecutionData,
	type INodeProperties,
} from 'n8n-workflow';

import { collectJob, collectSummary, type CollectOutcome } from '../../../core/batch-api';
import { modelPricing } from '../../../core/call/pricing';
import { DEFAULT_RESULT_FIELD, DEFAULT_RUN_FIELD } from '../../../core/defaults';
import { createCheckpoint } from '../../../core/ledger';
import { newRunId, stampAsRun } from '../../../core/run-stamp';
import { isReservedField } from '../../../core/types';
import { resultFieldProperty } from '../../shared/descriptions';
import { outputItem } from '../../shared/items';
import { readBatchIds, readDeadline } from '../params';
import { openJob, type JobDeps } from './context';
import { batchIdsProperty, deadlineOption } from './items';
import { keptFilesSink } from './files';
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
	const resultField = readResultField(ctx);
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
	const files = keptFilesSink(ctx);
	// Each record becomes its output item as soon as it is decided: the stored input item is
	// parsed once and gains its field in place (no copies, nothing else held per record).
	const onOutcome = (o: CollectOutcome) => {
		const item = JSON.parse(o.entry.item) as IDataObject;
		if ('error' in item) delete item.error;
		const { batchId, itemIndex } = o.entry;
		// A Submit of this same execution still holds the item's files: those, no second copy.
		const binary = binaryOf(batchId, itemIndex);
		const out = outputItem(item, paired(batchId, itemIndex), binary);
		let field: IDataObject;
		if (o.ok) {
			field = item[resultField] = o.result as unknown as IDataObject;
			success.push(out);
		} else {
			field = item.error = { ...o.error, recordId: o.entry.recordId } as unknown as IDataObject;
			failed.push(out);
		}
		if (!binary) files.want(o.entry.recordId, out, field);
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
		files,
	});

	// The poll is a run of its own: Batch Report knows it has everything once these items are in.
	stampAsRun(
		[...success, ...failed].map((item) => item.json),
		DEFAULT_RUN_FIELD,
		newRunId(ctx.getExecutionId()),
		new Date(clock.now()).toISOString(),
	);
	const filesNote = files.note();
	const summary = collectSummary(
		cfg.jobName,
		res,
		{ succeeded: success.length, failed: failed.length },
		filesNote ? [...notes, filesNote] : notes,
	);
	ctx.addExecutionHints?.({
		message: summary.message,
		type: summary.warning ? 'warning' : 'info',
		location: 'outputPane',
	});
	return [success, failed];
}

/** Where each record's result goes on its item; a reserved name is a configuration error. */
function readResultField(ctx: IExecuteFunctions): string {
	const resultField =
		String(ctx.getNodeParameter('resultField', 0, DEFAULT_RESULT_FIELD)).trim() ||
		DEFAULT_RESULT_FIELD;
	if (isReservedField(resultField)) {
		throw new NodeOperationError(ctx.getNode(), `Result Field "${resultField}" is reserved`, {
			description:
				'Pick another name (e.g. llm): "error" marks failed items downstream, and names such as json or pairedItem would break the item; nothing was read.',
		});
	}
	return resultField;
}
