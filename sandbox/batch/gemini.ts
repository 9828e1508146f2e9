/**
 * Gemini's batch API: `POST /v1beta/models/{m}:batchGenerateContent` with inline requests or
 * an uploaded file, `GET /v1beta/batches[/{id}]`, `POST /v1beta/batches/{id}:cancel`, the
 * Files API's resumable upload (`/upload/v1beta/files`: start, then upload + finalize at the
 * URL it answers) and the responses file's download (`/download/v1beta/files/{id}:download`).
 * Batches are long-running operations; their results are inlined responses (inline input) or
 * a responses file (file input), each keyed by the request's key, in processing order.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

import { readBytes, sendJson } from '../http';
import { errorAnswer } from '../protocol-errors';
import { MAX_UPLOAD_BYTES } from './files';
import { counts } from './objects';
import { withFaults } from './result-faults';
import { resultLines, streamLines } from './results';
import type { BatchRequest } from './routes';
import type { BatchStore } from './store';
import type { Batch, Line } from './types';

const CUSTOM_ID = /^[a-zA-Z0-9_-]{1,64}$/;
const GEMINI_TYPE = 'type.googleapis.com/google.ai.generativelanguage.v1beta';

function fail(res: ServerResponse, kind: 'invalid_request' | 'not_found', message: string): void {
	const e = errorAnswer('gemini', kind, message, '');
	sendJson(res, e.status, e.body);
}

export function routeGemini({
	store,
	method,
	path,
	req,
	res,
}: BatchRequest): Promise<void> | false | void {
	const create = /^\/v1beta\/models\/([^/]+):batchGenerateContent$/.exec(path);
	if (create && method === 'POST')
		return createBatch(store, decodeURIComponent(create[1]), req, res);
	if (path === '/upload/v1beta/files' && method === 'POST') return upload(store, req, res);
	const download = /^\/download\/v1beta\/(files\/[^/:]+):download$/.exec(path);
	if (download && method === 'GET') {
		const f = store.files.get(download[1]);
		if (!f?.output) return false;
		const lines = withFaults(
			'gemini',
			store.o.resultFaults,
			resultLines(f.output.batch, store.deps.now),
		);
		return streamLines(res, lines, 'application/jsonl');
	}
	if (path === '/v1beta/batches' && method === 'GET') {
		const operations = [...store.batches.values()]
			.filter((b) => b.provider === 'gemini')
			.reverse()
			.map((b) => operation(store, b));
		return sendJson(res, 200, { operations });
	}
	const m = /^\/v1beta\/(batches\/[^/:]+)(:cancel)?$/.exec(path);
	if (!m) return false;
	const b = store.batches.get(m[1]);
	if (!b || b.provider !== 'gemini') return false;
	if (m[2] && method === 'POST') {
		req.resume();
		store.cancel(b, phaseEnded(store, b));
		return sendJson(res, 200, {});
	}
	if (!m[2] && method === 'GET') return sendJson(res, 200, operation(store, b));
	return false;
}

function phaseEnded(store: BatchStore, b: Batch): boolean {
	return counts(store, b, store.deps.now()).p.ended;
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown> | undefined> {
	const raw = await readBytes(req, MAX_UPLOAD_BYTES);
	try {
		const v: unknown = JSON.parse(raw?.toString('utf8') ?? '');
		return v && typeof v === 'object' ? (v as Record<string, unknown>) : undefined;
	} catch {
		return undefined;
	}
}

/** The resumable upload: `start` answers the upload URL; `upload, finalize` stores the file. */
async function upload(store: BatchStore, req: IncomingMessage, res: ServerResponse): Promise<void> {
	const command = String(req.headers['x-goog-upload-command'] ?? '');
	if (command === 'start') {
		await readJson(req);
		const id = store.nextId('u');
		res.setHeader(
			'x-goog-upload-url',
			`http://${req.headers.host}/upload/v1beta/files?upload_id=${id}`,
		);
		res.setHeader('x-goog-upload-status', 'active');
		return sendJson(res, 200, {});
	}
	const uploadId = new URL(req.url ?? '/', 'http://x').searchParams.get('upload_id');
	if (!uploadId || !/finalize/.test(command)) {
		req.resume();
		return fail(res, 'invalid_request', 'Unknown upload command or upload_id');
	}
	const raw = await readBytes(req, MAX_UPLOAD_BYTES);
	if (!raw) return fail(res, 'invalid_request', 'Request payload size exceeds the limit.');
	const name = `files/${store.nextId('f')}`;
	const createdAt = store.deps.now();
	store.files.set(name, {
		id: name,
		bytes: raw.length,
		purpose: 'batch',
		createdAt,
		content: raw.toString('utf8'),
	});
	sendJson(res, 200, {
		file: {
			name,
			mimeType: 'application/jsonl',
			sizeBytes: String(raw.length),
			createTime: new Date(createdAt).toISOString(),
			state: 'ACTIVE',
		},
	});
}

/** Requests as lines: inline `{request, metadata: {key}}` or file lines `{key, request}`. */
function linesOf(entries: unknown[], inline: boolean): Line[] | string {
	const seen = new Set<string>();
	const lines: Line[] = [];
	for (const [i, e] of entries.entries()) {
		const o = (e ?? {}) as { key?: unknown; request?: unknown; metadata?: { key?: unknown } };
		const key = inline ? o.metadata?.key : o.key;
		if (typeof key !== 'string' || !CUSTOM_ID.test(key))
			return `${inline ? `requests[${i}].metadata.key` : `line ${i + 1}: key`} is missing or not a key`;
		if (seen.has(key)) return `duplicate key ${key}`;
		seen.add(key);
		lines.push({ customId: key, body: (o.request ?? {}) as Record<string, unknown> });
	}
	return lines;
}

async function createBatch(
	store: BatchStore,
	model: string,
	req: IncomingMessage,
	res: ServerResponse,
): Promise<void> {
	const body = await readJson(req);
	const batch = (body?.batch ?? {}) as {
		displayName?: unknown;
		inputConfig?: { requests?: { requests?: unknown }; fileName?: unknown };
	};
	const input = batch.inputConfig ?? {};
	const caps = store.o.caps.gemini;
	let lines: Line[] | string;
	let bytes: number;
	const inline = Array.isArray(input.requests?.requests);
	if (inline) {
		const entries = input.requests!.requests as unknown[];
		lines = linesOf(entries, true);
		bytes = Number(req.headers['content-length'] ?? 0);
		// Gemini takes at most 20 MB of requests inline.
		if (bytes > 20_000_000) {
			store.st.capRejections++;
			return fail(
				res,
				'invalid_request',
				'Request payload size exceeds the limit: 20000000 bytes.',
			);
		}
	} else {
		const file = store.files.get(String(input.fileName ?? ''));
		if (!file?.content) return fail(res, 'not_found', `File ${String(input.fileName)} not found.`);
		const entries: unknown[] = [];
		for (const l of file.content.split('\n')) {
			if (l.trim() === '') continue;
			try {
				entries.push(JSON.parse(l));
			} catch {
				return fail(res, 'invalid_request', `Line ${entries.length + 1} is not valid JSON.`);
			}
		}
		lines = linesOf(entries, false);
		bytes = file.bytes;
	}
	if (typeof lines === 'string') return fail(res, 'invalid_request', lines);
	if (lines.length === 0) return fail(res, 'invalid_request', 'The batch has no requests.');
	if (lines.length > caps.maxRequests || bytes > caps.maxBytes) {
		store.st.capRejections++;
		return fail(
			res,
			'invalid_request',
			`The batch is over ${caps.maxRequests} requests / ${caps.maxBytes} bytes.`,
		);
	}
	const b = store.newBatch('gemini', lines, { displayName: batch.displayName });
	b.model = model;
	b.inline = inline;
	sendJson(res, 200, operation(store, b));
}

const STATE: Record<string, string> = {
	completed: 'BATCH_STATE_SUCCEEDED',
	expired: 'BATCH_STATE_EXPIRED',
	cancelled: 'BATCH_STATE_CANCELLED',
	failed: 'BATCH_STATE_FAILED',
	running: 'BATCH_STATE_RUNNING',
};

/** The batch as its long-running operation, with its output once it has ended. */
function operation(store: BatchStore, b: Batch): Record<string, unknown> {
	const { p, ok, errored } = counts(store, b, store.deps.now());
	const iso = (ms: number | undefined) =>
		ms === undefined ? undefined : new Date(ms).toISOString();
	const total = b.lines.length;
	const succeeded = p.ended ? ok : 0;
	const failed = p.ended ? errored : 0;
	const output = p.ended ? outputOf(store, b) : undefined;
	const batch = {
		'@type': `${GEMINI_TYPE}.GenerateContentBatch`,
		name: b.id,
		displayName: (b.metadata as { displayName?: string } | undefined)?.displayName,
		model: `models/${b.model}`,
		// Gemini has no cancelling state: a batch being cancelled is still running.
		state: p.ended ? STATE[p.reason] : 'BATCH_STATE_RUNNING',
		createTime: iso(b.createdAt),
		updateTime: iso(p.endedAt ?? store.deps.now()),
		...(p.ended ? { endTime: iso(p.endedAt) } : {}),
		// int64 counts are strings in JSON, as the API sends them.
		batchStats: {
			requestCount: String(total),
			successfulRequestCount: String(succeeded),
			failedRequestCount: String(failed),
			pendingRequestCount: String(total - succeeded - failed),
		},
		...(output ? { output } : {}),
	};
	return {
		name: b.id,
		metadata: batch,
		...(p.ended ? { done: true } : {}),
		...(output
			? { response: { '@type': `${GEMINI_TYPE}.GenerateContentBatchOutput`, ...output } }
			: {}),
	};
}

function outputOf(store: BatchStore, b: Batch): Record<string, unknown> {
	if (!b.inline) {
		b.outputFileId ??= `files/${store.nextId('r')}`;
		if (!store.files.has(b.outputFileId))
			store.files.set(b.outputFileId, {
				id: b.outputFileId,
				bytes: 0,
				purpose: 'batch_output',
				createdAt: store.deps.now(),
				output: { batch: b, kind: 'output' },
			});
		return { responsesFile: b.outputFileId };
	}
	const inlinedResponses = [...resultLines(b, store.deps.now)].map((l) => {
		const r = JSON.parse(l) as { key: string; response?: unknown; error?: unknown };
		return {
			metadata: { key: r.key },
			...(r.response ? { response: r.response } : { error: r.error }),
		};
	});
	return { inlinedResponses: { inlinedResponses } };
}
