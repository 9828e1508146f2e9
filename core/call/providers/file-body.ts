/**
 * A realtime request's files written into its body by the transport: the SDK serialises a
 * body whose files are short markers (core/call/attachments.ts `loadFileMarkers`), and the
 * fetch writes each file's base64 where its marker stands, 64 KB at a time, as the body goes
 * out (./http-fetch.ts). No base64 string of a whole file exists, nor a JSON string holding
 * one, nor (past 64 KB) a Buffer of the whole body.
 */
import { base64Bytes, type FileBytes } from '../attachments';
import { cancelOption } from './cancel';

const FILES = Symbol('llm-batch.files');

type FilesInit = RequestInit & { [FILES]?: FileBytes };

/** SDK request options carrying the cancel signal and the request's file bytes to the fetch. */
export function sendOptions(
	signal: AbortSignal | undefined,
	bytes: FileBytes,
): { fetchOptions?: object } {
	const cancel = cancelOption(signal).fetchOptions;
	if (bytes.size === 0) return cancel ? { fetchOptions: cancel } : {};
	return { fetchOptions: { ...cancel, [FILES]: bytes } };
}

/** The file bytes `sendOptions` put in a fetch init, if any. */
export function filesOf(init: RequestInit | undefined): FileBytes | undefined {
	return (init as FilesInit | undefined)?.[FILES];
}

/** A fetch init carrying `bytes` for the body's markers (the Gemini client builds its own init). */
export function withFiles(init: RequestInit, bytes: FileBytes | undefined): RequestInit {
	return bytes?.size ? ({ ...init, [FILES]: bytes } as FilesInit) : init;
}

/**
 * A fetch that is not ./http-fetch.ts (which streams the files itself), given the body with
 * the files spliced in, as one Buffer.
 */
export function fileBodyFetch(fetchImpl: typeof fetch): typeof fetch {
	return (input, init) => {
		const bytes = filesOf(init);
		if (!bytes) return fetchImpl(input, init);
		const rest: FilesInit = { ...init };
		delete rest[FILES];
		if (typeof rest.body !== 'string')
			return Promise.reject(new TypeError('A request with files must have a JSON text body'));
		return fetchImpl(input, { ...rest, body: spliceFiles(rest.body, bytes) });
	};
}

/** 48 KB of a file at a time: 64 KB of base64, a string V8's young generation takes and drops. */
const CHUNK = 3 * 16 * 1024;

/** A body as written: its byte length, and its text and base64 pieces in order. */
export interface FileBody {
	length: number;
	pieces(): Generator<[text: string, encoding: 'utf8' | 'latin1']>;
}

/**
 * `json` with every marker standing for its file's base64. A marker missing from the body, or
 * in it twice, is a bug in the body builder: refused rather than sent without the file.
 */
export function fileBody(json: string, bytes: FileBytes): FileBody {
	const at: Array<{ start: number; end: number; file: Buffer }> = [];
	let length = Buffer.byteLength(json);
	for (const [marker, file] of bytes) {
		const start = json.indexOf(marker);
		if (start < 0 || json.indexOf(marker, start + 1) >= 0)
			throw new Error('A file of the request is not in its body exactly once');
		at.push({ start, end: start + marker.length, file });
		length += base64Bytes(file.length) - marker.length;
	}
	at.sort((a, b) => a.start - b.start);
	return {
		length,
		*pieces() {
			let from = 0;
			for (const { start, end, file } of at) {
				yield [json.slice(from, start), 'utf8'];
				for (let i = 0; i < file.length; i += CHUNK)
					yield [file.toString('base64', i, Math.min(i + CHUNK, file.length)), 'latin1'];
				from = end;
			}
			yield [json.slice(from), 'utf8'];
		},
	};
}

/** The body with its files, as one Buffer (for a fetch that takes no streamed body). */
export function spliceFiles(json: string, bytes: FileBytes): Buffer {
	return bodyBuffer(fileBody(json, bytes));
}

/** A body's pieces written into one Buffer. */
export function bodyBuffer(body: FileBody): Buffer {
	const out = Buffer.allocUnsafe(body.length);
	let offset = 0;
	for (const [text, encoding] of body.pieces()) offset += out.write(text, offset, encoding);
	if (offset !== body.length)
		throw new Error(`Request body of ${offset} bytes, expected ${body.length}`);
	return out;
}
