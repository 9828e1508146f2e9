import type {
	IBinaryKeyData,
	IDataObject,
	IExecuteFunctions,
	INodeExecutionData,
} from 'n8n-workflow';

import type { FilesSink, ReturnedFiles } from '../../../core/batch-api';

/**
 * Collect's output items getting the files the ledger kept for their records: each through
 * n8n's `prepareBinaryData`, so n8n's binary mode (memory, filesystem, S3) decides where the
 * bytes live; the metadata as the item carried it at Submit. A file not kept is named, with
 * why, in the item's result field (or its error) as `filesNotKept`.
 */
export function keptFilesSink(ctx: IExecuteFunctions): FilesSink & {
	/** The record's output item wants its files; `field` is where a missing file is noted. */
	want(recordId: string, item: INodeExecutionData, field: IDataObject): void;
	/** What the output pane says of them, if anything. */
	note(): string | undefined;
} {
	let restored = 0;
	let notKept = 0;
	type Wanted = { item: INodeExecutionData; field: IDataObject };
	let waiting = new Map<string, Wanted>();
	// What the last `take` handed to core: reachable through `attach` until their files are on them.
	let taken = new Map<string, Wanted>();
	return {
		want(recordId, item, field) {
			waiting.set(recordId, { item, field });
		},
		take() {
			taken = waiting;
			waiting = new Map();
			return [...taken.keys()];
		},
		async attach(kept: ReturnedFiles) {
			const target = taken.get(kept.recordId);
			if (!target) return;
			taken.delete(kept.recordId);
			const binary: IBinaryKeyData = {};
			for (const f of kept.files) {
				const prepared = await ctx.helpers.prepareBinaryData(f.bytes, f.fileName, f.mimeType);
				binary[f.property] = {
					...prepared,
					...(f.fileExtension === undefined ? {} : { fileExtension: f.fileExtension }),
					...(f.fileSize === undefined ? {} : { fileSize: f.fileSize }),
				};
			}
			if (kept.files.length > 0) {
				target.item.binary = binary;
				restored++;
			}
			if (kept.notKept.length > 0) {
				target.field.filesNotKept = kept.notKept as unknown as IDataObject[];
				notKept += kept.notKept.length;
			}
		},
		note() {
			if (restored === 0 && notKept === 0) return undefined;
			const missing =
				notKept > 0
					? `; ${notKept} file(s) not kept by Submit, named in filesNotKept on their items`
					: '';
			return `${restored} record(s) got their files back from the ledger${missing}`;
		},
	};
}
