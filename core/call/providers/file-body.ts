/**
 * A realtime request's files written into its body by the transport: the SDK serialises a
 * body whose files are short markers (core/call/attachments.ts `loadFileMarkers`), and the
 * fetch puts each file's base64 where its marker stands, straight into the one Buffer that is
 * sent. No base64 string of a whole file exists, nor a JSON string holding one.
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

/** `fetchImpl`, with the files that `sendOptions` put in the init spliced into the body. */
export function fileBodyFetch(fetchImpl: typeof fetch): typeof fetch {
	return (input, init) => {
		const bytes = (init as FilesInit | undefined)?.[FILES];
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

/**
 * `json` as UTF-8 with every marker replaced by its file's base64. A marker missing from the
 * body, or in it twice, is a bug in the body builder: refused rather than sent without the file.
 */
export function spliceFiles(json: string, bytes: FileBytes): Buffer {
	const at: Array<{ start: number; end: number; file: Buffer }> = [];
	let size = Buffer.byteLength(json);
	for (const [marker, file] of bytes) {
		const start = json.indexOf(marker);
		if (start < 0 || json.indexOf(marker, start + 1) >= 0)
			throw new Error('A file of the request is not in its body exactly once');
		at.push({ start, end: start + marker.length, file });
		size += base64Bytes(file.length) - marker.length;
	}
	at.sort((a, b) => a.start - b.start);
	const out = Buffer.allocUnsafe(size);
	let offset = 0;
	let from = 0;
	for (const { start, end, file } of at) {
		offset += out.write(json.slice(from, start), offset, 'utf8');
		for (let i = 0; i < file.length; i += CHUNK)
			offset += out.write(
				file.toString('base64', i, Math.min(i + CHUNK, file.length)),
				offset,
				'latin1',
			);
		from = end;
	}
	offset += out.write(json.slice(from), offset, 'utf8');
	if (offset !== size) throw new Error(`Request body of ${offset} bytes, expected ${size}`);
	return out;
}
