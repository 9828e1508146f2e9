/**
 * A batch's lines sent to the provider as they are built: the body of a POST streamed a page
 * at a time with its length known up front, so a 190 MB batch is never one string, one Blob
 * or one request body in memory (the SDKs build each of those whole).
 */
import type { BatchLines } from '../types';

/** Where and how to post: the full URL, the provider's auth headers. */
export interface StreamedPost {
	url: string;
	headers: Record<string, string>;
	/** Bytes before the first line and after the last. */
	head: string;
	tail: string;
	/** Between two lines: `\n` in a JSONL file, `,` in a JSON array. */
	separator: string;
	/** After the last line too (a JSONL file ends with a newline). */
	trailingSeparator: boolean;
}

export interface StreamedAnswer {
	status: number;
	headers: Headers;
	/** The JSON body, or undefined when it is none. */
	json: unknown;
}

export async function postStreamed(
	fetchImpl: typeof fetch,
	lines: BatchLines,
	o: StreamedPost,
): Promise<StreamedAnswer> {
	const sep = Buffer.byteLength(o.separator);
	const separators =
		Math.max(0, lines.count - 1) + (o.trailingSeparator && lines.count > 0 ? 1 : 0);
	const length =
		Buffer.byteLength(o.head) + lines.bytes + separators * sep + Buffer.byteLength(o.tail);
	async function* body(): AsyncGenerator<Uint8Array> {
		yield Buffer.from(o.head);
		const separator = Buffer.from(o.separator);
		let first = true;
		for await (const page of lines.pages()) {
			// Line by line: a page joined into one string first would be one more copy of it.
			for (const line of page) {
				if (!first) yield separator;
				yield Buffer.from(line);
				first = false;
			}
		}
		yield Buffer.from((o.trailingSeparator && lines.count > 0 ? o.separator : '') + o.tail);
	}
	const res = await fetchImpl(o.url, {
		method: 'POST',
		headers: { ...o.headers, 'content-length': String(length) },
		body: body() as unknown as RequestInit['body'],
		duplex: 'half',
	} as RequestInit);
	const text = await res.text();
	let json: unknown;
	try {
		json = text === '' ? undefined : JSON.parse(text);
	} catch {
		json = undefined;
	}
	return { status: res.status, headers: res.headers, json };
}
