/**
 * OpenAI's files: POST /v1/files (a multipart upload of the batch input), GET
 * /v1/files/<id> and /content (an input file as uploaded, an output or error file
 * generated from its batch, with the configured result faults on the output file).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

import { readBytes, sendJson } from '../http';
import { fileObject } from './objects';
import { withFaults } from './result-faults';
import { resultLines, streamLines } from './results';
import type { BatchStore } from './store';
import type { StoredFile } from './types';

/** The most a batch upload may carry. */
export const MAX_UPLOAD_BYTES = 512 * 1024 * 1024;

/** The `file` part of a multipart/form-data upload, plus the other fields. */
export function parseMultipart(
	body: Buffer,
	contentType: string,
): { fields: Record<string, string>; file?: Buffer } {
	const m = /boundary=(?:"([^"]+)"|([^;]+))/i.exec(contentType);
	const fields: Record<string, string> = {};
	if (!m) return { fields };
	const boundary = Buffer.from(`--${m[1] ?? m[2]}`);
	let file: Buffer | undefined;
	let pos = body.indexOf(boundary);
	while (pos >= 0) {
		const start = pos + boundary.length;
		const next = body.indexOf(boundary, start);
		if (next < 0) break;
		const part = body.subarray(start, next);
		const headerEnd = part.indexOf('\r\n\r\n');
		if (headerEnd >= 0) {
			const headers = part.subarray(0, headerEnd).toString('utf8');
			// Drop the CRLF that precedes the next boundary.
			const content = part.subarray(headerEnd + 4, part.length - 2);
			const name = /name="([^"]*)"/.exec(headers)?.[1] ?? '';
			if (/filename=/.test(headers)) file = content;
			else fields[name] = content.toString('utf8');
		}
		pos = next;
	}
	return { fields, file };
}

export async function createFile(
	store: BatchStore,
	req: IncomingMessage,
	res: ServerResponse,
): Promise<void> {
	const raw = await readBytes(req, MAX_UPLOAD_BYTES);
	if (!raw)
		return sendJson(res, 413, {
			error: { message: 'File too large.', type: 'invalid_request_error' },
		});
	const { fields, file } = parseMultipart(raw, String(req.headers['content-type'] ?? ''));
	if (!file)
		return sendJson(res, 400, {
			error: { message: "Missing required parameter: 'file'.", type: 'invalid_request_error' },
		});
	const id = store.nextId('file-');
	const purpose = fields.purpose ?? 'batch';
	store.files.set(id, {
		id,
		bytes: file.length,
		purpose,
		createdAt: store.deps.now(),
		content: file.toString('utf8'),
	});
	sendJson(res, 200, fileObject(store.files.get(id)!));
}

/** A file's object, or its content with `content`. */
export function sendFile(
	store: BatchStore,
	f: StoredFile,
	content: boolean,
	res: ServerResponse,
): void {
	if (!content) return sendJson(res, 200, fileObject(f));
	const type = 'application/octet-stream';
	if (!f.output)
		return streamLines(
			res,
			(f.content ?? '').split('\n').filter((l) => l !== ''),
			type,
		);
	const { batch, kind } = f.output;
	const lines =
		kind === 'output'
			? withFaults('openai', store.o.resultFaults, resultLines(batch, store.deps.now, 'output'))
			: resultLines(batch, store.deps.now, 'error');
	streamLines(res, lines, type);
}
