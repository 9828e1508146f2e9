/**
 * A batch's request lines, made from its records as they are needed: measured once (to split
 * at the caps) and built again a page at a time while the upload reads them, with turns of the
 * event loop in between — a 190 MB batch is never held whole, nor built in one stretch.
 */
import { base64Bytes, loadFiles, type LoadedFile } from '../call/attachments';
import type { ChatRequest } from '../call/providers/types';
import { NONCE_LENGTH, customIdFor } from './custom-id';
import type { BatchApi, BatchLines } from './types';

/** What is built between two turns of the event loop (and written to the ledger at once). */
export const PIECE_BYTES = 1024 * 1024;

export const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** What a request line is made of. */
export interface LineSource {
	recordId: string;
	request: ChatRequest;
}

/**
 * Each record's request line size, to split at the caps: lines are built here only to be
 * measured, and again when their batch is uploaded, so no more than a page of lines is held.
 * A nonce of the same length stands in for the batch's own, which is not drawn yet.
 */
export async function lineSizes(api: BatchApi, sources: readonly LineSource[]): Promise<number[]> {
	const stand = '0'.repeat(NONCE_LENGTH);
	const sizes: number[] = [];
	let built = 0;
	for (const s of sources) {
		const size = lineSize(api, customIdFor(stand, s.recordId), s.request);
		sizes.push(size);
		built += size;
		if (built >= PIECE_BYTES) {
			built = 0;
			await nextTurn();
		}
	}
	return sizes;
}

/**
 * A line's size without reading its files: built with empty file data, plus each file's base64
 * length (what the data takes in the line; base64 needs no JSON escaping).
 */
function lineSize(api: BatchApi, customId: string, request: ChatRequest): number {
	const files = request.attachments;
	if (!files || files.length === 0) return Buffer.byteLength(api.requestLine(customId, request));
	const empty: LoadedFile[] = files.map((file) => ({ file, base64: '' }));
	let size = Buffer.byteLength(api.requestLine(customId, request, empty));
	for (const f of files) size += base64Bytes(f.facts.bytes);
	return size;
}

/** The batch's lines, built a page at a time as the upload reads them. */
export function linesOf(
	api: BatchApi,
	nonce: string,
	sources: readonly LineSource[],
	bytes: number,
): BatchLines {
	return {
		count: sources.length,
		bytes,
		async *pages() {
			let page: string[] = [];
			let size = 0;
			for (const s of sources) {
				// A record's files are read as its line is built: one record's files held at a time.
				const files = s.request.attachments ? await loadFiles(s.request.attachments) : undefined;
				const line = api.requestLine(customIdFor(nonce, s.recordId), s.request, files);
				page.push(line);
				size += line.length;
				if (size >= PIECE_BYTES) {
					yield page;
					page = [];
					size = 0;
					// The socket may take piece after piece without waiting: timers get their turn.
					await nextTurn();
				}
			}
			if (page.length > 0) yield page;
		},
	};
}
