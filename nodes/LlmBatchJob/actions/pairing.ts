import type {
	IBinaryKeyData,
	IExecuteFunctions,
	IPairedItemData,
	IRunExecutionData,
	ISourceData,
} from 'n8n-workflow';

/** How a Collect output item pairs with what came before it. */
export type CollectPairing = (
	batchId: string,
	itemIndex: number,
) => IPairedItemData | IPairedItemData[] | undefined;

/**
 * The binary data of a record's own input item, when the Submit that created its batch ran
 * in this execution (Submit → Wait → Collect): n8n's run data still holds Submit's input
 * items, files included: those are given back as they are (no second copy). A batch submitted
 * by another execution has none here: its records' files come from the ledger (./files.ts).
 */
export function submittedBinary(
	ctx: IExecuteFunctions,
): (batchId: string, itemIndex: number) => IBinaryKeyData | undefined {
	const data = runData(ctx);
	const submits = submitSources(ctx);
	if (!data || submits.size === 0) return () => undefined;
	return (batchId, itemIndex) => {
		const source = submits.get(batchId);
		if (!source) return undefined;
		const task = data[source.previousNode]?.[source.previousNodeRun ?? 0];
		return task?.data?.main?.[source.previousNodeOutput ?? 0]?.[itemIndex]?.binary;
	};
}

/**
 * The pairing of Collect's items. A record whose batch a Submit created in this same execution
 * (Submit → Wait → Collect) pairs with two paths: straight to that Submit's input item of the
 * record (`sourceOverwrite`: n8n's walk continues at Submit's input node, so
 * `$('Make tickets').item` is the record's own item), and to the Collect input item of its batch
 * (so `$('Wait').item` still resolves). n8n keeps the paths that reach the node asked for: one
 * item each time, never "Multiple matches". A record of a batch from another execution pairs
 * with the Collect input item of its batch if there is one, else with input item 0.
 */
export function collectPairing(ctx: IExecuteFunctions): CollectPairing {
	const input = ctx.getInputData();
	if (input.length === 0) return () => undefined;
	const byBatch = new Map<string, number>();
	input.forEach((item, i) => {
		const id = item.json.batchId;
		if (typeof id === 'string' && !byBatch.has(id)) byBatch.set(id, i);
	});
	const submits = submitSources(ctx);
	return (batchId, itemIndex) => {
		const batchItem = byBatch.get(batchId);
		const source = submits.get(batchId);
		if (!source) return { item: batchItem ?? 0 };
		const own = { item: itemIndex, sourceOverwrite: source };
		// The batch's path only when an input item is that batch: any other item could lead to
		// another record, and two different matches are an error in n8n.
		return batchItem === undefined ? own : [own, { item: batchItem }];
	};
}

/** The execution's run data: what n8n's own item linking walks (the context holds it). */
function runData(ctx: IExecuteFunctions): IRunExecutionData['resultData']['runData'] | undefined {
	return (ctx as unknown as { runExecutionData?: IRunExecutionData }).runExecutionData?.resultData
		?.runData;
}

/** Batch ID -> the input source of the Submit run (of this execution) that created it. */
function submitSources(ctx: IExecuteFunctions): Map<string, ISourceData> {
	const out = new Map<string, ISourceData>();
	const data = runData(ctx);
	if (!data) return out;
	const self = ctx.getNode();
	const submits = ctx
		.getParentNodes(self.name, { includeNodeParameters: true })
		.filter((n) => n.type === self.type && n.parameters?.operation === 'submit');
	for (const s of submits) {
		for (const task of data[s.name] ?? []) {
			const source = task.source?.[0];
			if (!source) continue;
			for (const item of task.data?.main?.[0] ?? []) {
				const id = item.json.batchId;
				if (typeof id === 'string') out.set(id, source);
			}
		}
	}
	return out;
}
