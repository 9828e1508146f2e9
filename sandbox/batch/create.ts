/**
 * Creating a batch: OpenAI's from an uploaded input file (bad lines, a `failBatches`
 * setting or a broken cap make a failed batch), Anthropic's from the request list (a bad
 * request or a broken cap is refused). Caps are enforced as the providers do.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

import { readBytes, sendJson } from '../http';
import { MAX_UPLOAD_BYTES } from './files';
import { anthropicBatchObject, openAiBatchObject } from './objects';
import type { BatchStore } from './store';
import type { Batch, Line } from './types';

const CUSTOM_ID = /^[a-zA-Z0-9_-]{1,64}$/;

export async function createOpenAiBatch(
	store: BatchStore,
	req: IncomingMessage,
	res: ServerResponse,
): Promise<void> {
	const raw = await readBytes(req, MAX_UPLOAD_BYTES);
	let body: Record<string, unknown>;
	try {
		body = JSON.parse(raw?.toString('utf8') ?? '') as Record<string, unknown>;
	} catch {
		return sendJson(res, 400, {
			error: { message: 'Invalid JSON body.', type: 'invalid_request_error' },
		});
	}
	const file = store.files.get(String(body.input_file_id ?? ''));
	if (!file || file.content === undefined)
		return sendJson(res, 404, {
			error: {
				message: `No such File object: ${String(body.input_file_id)}`,
				type: 'invalid_request_error',
			},
		});
	if (body.completion_window !== '24h')
		return sendJson(res, 400, {
			error: { message: "completion_window must be '24h'.", type: 'invalid_request_error' },
		});
	const { lines, count, failure: lineFailure } = readInputLines(file.content, body.endpoint);
	let failure = lineFailure;
	if (store.o.failBatches) failure = { ...store.o.failBatches };
	const caps = store.o.caps.openai;
	if (count > caps.maxRequests || file.bytes > caps.maxBytes) {
		store.st.capRejections++;
		failure = {
			code: 'batch_too_large',
			message: `The batch input file is larger than the ${caps.maxRequests} requests / ${caps.maxBytes} bytes maximum.`,
		};
	}
	const b = store.newBatch('openai', failure ? [] : lines, body.metadata, failure);
	b.inputFileId = file.id;
	sendJson(res, 200, openAiBatchObject(store, b));
}

/** An input file's request lines; the first bad line fails the batch. */
function readInputLines(
	text: string,
	endpointGiven: unknown,
): { lines: Line[]; count: number; failure?: Batch['failure'] } {
	const endpoint = String(endpointGiven ?? '');
	const lines: Line[] = [];
	let failure: Batch['failure'];
	const seen = new Set<string>();
	let count = 0;
	for (const rawLine of text.split('\n')) {
		if (rawLine.trim() === '') continue;
		count++;
		try {
			const l = JSON.parse(rawLine) as {
				custom_id?: unknown;
				url?: unknown;
				method?: unknown;
				body?: unknown;
			};
			if (typeof l.custom_id !== 'string' || l.custom_id === '' || seen.has(l.custom_id))
				throw new Error('custom_id missing or not unique');
			if (l.url !== endpoint || l.method !== 'POST')
				throw new Error(`url must be ${endpoint} and method POST`);
			seen.add(l.custom_id);
			lines.push({ customId: l.custom_id, body: (l.body ?? {}) as Record<string, unknown> });
		} catch (e) {
			failure ??= { code: 'invalid_request', message: `Line ${count}: ${(e as Error).message}` };
		}
	}
	return { lines, count, failure };
}

export async function createAnthropicBatch(
	store: BatchStore,
	req: IncomingMessage,
	res: ServerResponse,
): Promise<void> {
	const raw = await readBytes(req, MAX_UPLOAD_BYTES);
	const caps = store.o.caps.anthropic;
	const bad = (status: number, message: string) =>
		sendJson(res, status, {
			type: 'error',
			error: { type: status === 413 ? 'request_too_large' : 'invalid_request_error', message },
		});
	if (!raw) return bad(413, 'Request too large.');
	if (raw.length > caps.maxBytes) {
		store.st.capRejections++;
		return bad(413, `Batch too large: ${raw.length} bytes > ${caps.maxBytes}.`);
	}
	let body: { requests?: unknown };
	try {
		body = JSON.parse(raw.toString('utf8')) as { requests?: unknown };
	} catch {
		return bad(400, 'Invalid JSON body.');
	}
	if (!Array.isArray(body.requests) || body.requests.length === 0)
		return bad(400, 'requests: must have at least 1 item');
	if (body.requests.length > caps.maxRequests) {
		store.st.capRejections++;
		return bad(
			400,
			`requests: at most ${caps.maxRequests} requests per batch, got ${body.requests.length}`,
		);
	}
	const lines = readRequests(body.requests as Array<{ custom_id?: unknown; params?: unknown }>);
	if (typeof lines === 'string') return bad(400, lines);
	sendJson(res, 200, anthropicBatchObject(store, store.newBatch('anthropic', lines, undefined)));
}

/** The batch's requests, or what is wrong with the first bad one. */
function readRequests(requests: Array<{ custom_id?: unknown; params?: unknown }>): Line[] | string {
	const seen = new Set<string>();
	const lines: Line[] = [];
	for (const [i, r] of requests.entries()) {
		const id = r?.custom_id;
		if (typeof id !== 'string' || !CUSTOM_ID.test(id))
			return `requests.${i}.custom_id: String should match pattern '^[a-zA-Z0-9_-]{1,64}$'`;
		if (seen.has(id)) return `requests.${i}.custom_id: duplicate custom_id ${id}`;
		seen.add(id);
		lines.push({ customId: id, body: (r.params ?? {}) as Record<string, unknown> });
	}
	return lines;
}
