import type { ProviderName } from '../types';

/** What one provider batch may hold. */
export interface BatchCaps {
	readonly maxRequests: number;
	readonly maxBytes: number;
}

/**
 * The providers' documented caps: OpenAI 50,000 requests and 200 MB per input file;
 * Anthropic 100,000 requests or 256 MB per batch, whichever comes first; Gemini a 2 GB input
 * file (no request count is documented: 100,000 keeps one batch's ledger rows and result file
 * the size of the other two's). Decimal megabytes:
 * the smaller reading of "MB", so a batch is never over the cap whichever the provider means.
 */
export const PROVIDER_CAPS: Readonly<Record<ProviderName, BatchCaps>> = Object.freeze({
	openai: { maxRequests: 50_000, maxBytes: 200_000_000 },
	anthropic: { maxRequests: 100_000, maxBytes: 256_000_000 },
	gemini: { maxRequests: 100_000, maxBytes: 2_000_000_000 },
});

/** Bytes kept free under the byte cap for the JSON around the lines (Anthropic's `{"requests":[…]}`). */
const ENVELOPE_BYTES = 1024;

/**
 * Splits lines (in input order) into consecutive batches that respect the provider's caps
 * and an optional smaller size (`batchSize`, 0 = provider cap). Returns the index ranges
 * `[start, end)`; each line counts its UTF-8 bytes plus one separator.
 */
export function splitIntoBatches(
	lineBytes: readonly number[],
	caps: BatchCaps,
	batchSize = 0,
): Array<[number, number]> {
	if (!Number.isInteger(batchSize) || batchSize < 0)
		throw new TypeError(`Expected \`batchSize\` to be an integer >= 0, got ${batchSize}`);
	const maxRequests = batchSize > 0 ? Math.min(batchSize, caps.maxRequests) : caps.maxRequests;
	const maxBytes = caps.maxBytes - ENVELOPE_BYTES;
	const out: Array<[number, number]> = [];
	let start = 0;
	let bytes = 0;
	for (let i = 0; i < lineBytes.length; i++) {
		const size = lineBytes[i] + 1;
		if (size > maxBytes) {
			throw new RangeError(
				`Request ${i} is ${size} bytes, more than one batch may hold (${maxBytes})`,
			);
		}
		if (i > start && (i - start >= maxRequests || bytes + size > maxBytes)) {
			out.push([start, i]);
			start = i;
			bytes = 0;
		}
		bytes += size;
	}
	if (lineBytes.length > start) out.push([start, lineBytes.length]);
	return out;
}
