/**
 * A batch's request lines, made from its records as they are needed: measured once (to split
 * at the caps) and built again a page at a time while the upload reads them, with turns of the
 * event loop in between — a 190 MB batch is never held whole, nor built in one stretch. A
 * record's files are read only as its line is built for the upload, one record's files at a
 * time; measuring a line needs only their sizes.
 */
import { base64Bytes, type LoadedFile } from '../call/attachments';
import type { ChatRequest } from '../call/providers/types';
import { NONCE_LENGTH } from './custom-id';
import type { BatchApi, BatchLines } from './types';

/** What is built between two turns of the event loop (and written to the ledger at once). */
export const PIECE_BYTES = 1024 * 1024;

export const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Builds the request line of `source` at position `seq` of the submission `nonce`. */
export interface LineBuilder<T> {
	/** The line's size in bytes, its files counted by size without being read. */
	size(source: T, nonce: string, seq: number): number;
	/** The line itself, its files read now. */
	line(source: T, nonce: string, seq: number): Promise<string>;
}

/**
 * A request line's size without reading its files: built with empty file data, plus each
 * file's base64 length (what the data takes in the line; base64 needs no JSON escaping).
 */
export function lineSize(api: BatchApi, customId: string, request: ChatRequest): number {
	const files = request.attachments;
	if (!files || files.length === 0) return Buffer.byteLength(api.requestLine(customId, request));
	const empty: LoadedFile[] = files.map((file) => ({ file, base64: '' }));
	let size = Buffer.byteLength(api.requestLine(customId, request, empty));
	for (const f of files) size += base64Bytes(f.facts.bytes);
	return size;
}

/**
 * Each request line's size, to split at the caps: no more than a page of lines is held. A
 * nonce of the same length stands in for the batch's own, which is not drawn yet; `seq` is the
 * line's position among all lines, never less than its position in its own batch (a size is
 * an upper bound).
 */
export async function lineSizes<T>(
	sources: readonly T[],
	build: LineBuilder<T>,
): Promise<number[]> {
	const stand = '0'.repeat(NONCE_LENGTH);
	const sizes: number[] = [];
	let built = 0;
	for (let i = 0; i < sources.length; i++) {
		const size = build.size(sources[i], stand, i);
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
export function linesOf<T>(
	nonce: string,
	sources: readonly T[],
	bytes: number,
	build: LineBuilder<T>,
): BatchLines {
	return {
		count: sources.length,
		bytes,
		async *pages() {
			let page: string[] = [];
			let size = 0;
			for (let i = 0; i < sources.length; i++) {
				const line = await build.line(sources[i], nonce, i);
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
