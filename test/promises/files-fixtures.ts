/**
 * What the kept-files promise tests share: invoice records carrying their PDF (sent as an
 * attachment and kept as the item's binary `data`), built by the same input policy as the
 * nodes, and a Collect sink that takes every record's files back.
 */
import type { PreparedRecord, ReturnedFiles } from '../../core/batch-api';
import { attachFile } from '../../core/call/attachments';
import { inputPolicy, isItemError } from '../../core/call/input';
import type { ProviderName } from '../../core/types';
import { invoicePdf } from '../helpers/pdf';
import { MODEL } from './collect-fixtures';

/** Records inv-<n>, each with its own invoice PDF attached and kept. */
export function pdfRecords(provider: ProviderName, ns: readonly number[]): PreparedRecord[] {
	const policy = inputPolicy({
		provider,
		scope: 'test-scope',
		model: MODEL[provider],
		maxTokens: 400,
		contextWindow: 0,
	});
	return ns.map((n, index) => {
		const { pdf } = invoicePdf(n);
		const fileName = `inv-${n}.pdf`;
		const read = async () => pdf;
		const file = attachFile({ property: 'data', fileName, mimeType: 'application/pdf' }, pdf, read);
		if ('error' in file) throw new Error(file.error);
		const r = policy(index, {
			prompt: 'Extract the invoice fields.',
			system: '',
			recordId: `inv-${n}`,
			attachments: [file],
		});
		if (isItemError(r)) throw new Error(r.message);
		return {
			index,
			recordId: r.recordId,
			promptHash: r.promptHash,
			request: r.request,
			item: { id: `inv-${n}` },
			binary: [
				{ property: 'data', fileName, mimeType: 'application/pdf', fileExtension: 'pdf', read },
			],
		};
	});
}

/** A Collect's files sink: every emitted record asks for its files; what came back, by record. */
export function filesSink() {
	const wanted: string[] = [];
	const back = new Map<string, ReturnedFiles>();
	return {
		back,
		want: (recordId: string) => wanted.push(recordId),
		sink: {
			take: () => wanted.splice(0),
			attach: async (files: ReturnedFiles) => {
				back.set(files.recordId, files);
			},
		},
	};
}
