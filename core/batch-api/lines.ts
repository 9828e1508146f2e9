/**
 * A batch's request lines, made from its records as they are needed: measured once (to split
 * at the caps) and built again a page at a time while the upload reads them, with turns of the
 * event loop in between — a 190 MB batch is never held whole, nor built in one stretch.
 */
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
		const size = Buffer.byteLength(api.requestLine(customIdFor(stand, s.recordId), s.request));
		sizes.push(size);
		built += size;
		if (built >= PIECE_BYTES) {
			built = 0;
			await nextTurn();
		}
	}
	return sizes;
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
				const line = api.requestLine(customIdFor(nonce, s.recordId), s.request);
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
