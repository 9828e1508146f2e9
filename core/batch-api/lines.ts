/**
 * A batch's request lines, made from its records as they are needed: measured once (to split
 * at the caps) and built again a page at a time while the upload reads them, with turns of the
 * event loop in between — a 190 MB batch is never held whole, nor built in one stretch.
 */
import { NONCE_LENGTH } from './custom-id';
import type { BatchLines } from './types';

/** What is built between two turns of the event loop (and written to the ledger at once). */
export const PIECE_BYTES = 1024 * 1024;

export const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Builds the request line of `source` at position `seq` of the submission `nonce`. */
export type BuildLine<T> = (source: T, nonce: string, seq: number) => string;

/**
 * Each request line's size, to split at the caps: lines are built here only to be measured,
 * and again when their batch is uploaded, so no more than a page of lines is held. A nonce of
 * the same length stands in for the batch's own, which is not drawn yet; `seq` is the line's
 * position among all lines, never less than its position in its own batch (a size is an
 * upper bound).
 */
export async function lineSizes<T>(sources: readonly T[], build: BuildLine<T>): Promise<number[]> {
	const stand = '0'.repeat(NONCE_LENGTH);
	const sizes: number[] = [];
	let built = 0;
	for (let i = 0; i < sources.length; i++) {
		const size = Buffer.byteLength(build(sources[i], stand, i));
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
	build: BuildLine<T>,
): BatchLines {
	return {
		count: sources.length,
		bytes,
		async *pages() {
			let page: string[] = [];
			let size = 0;
			for (let i = 0; i < sources.length; i++) {
				const line = build(sources[i], nonce, i);
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
