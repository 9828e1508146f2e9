/**
 * The two batch APIs of the sandbox: OpenAI files + batches (/v1/files, /v1/batches, file
 * content) and Anthropic message batches (/v1/messages/batches, results). Time comes from
 * the sandbox clock, so a test moves a batch from in_progress to ended by moving its fake
 * clock, without sleeping.
 *
 * A batch processes its requests in a shuffled (seeded) order, evenly over `processingMs`;
 * results come back in that order, not the input order. A batch not finished when it
 * expires (`expiresAfterMs`) or is cancelled keeps the requests done until then, and the
 * rest come back expired / canceled. Prompts carrying `[[sandbox:status400]]` or
 * `[[sandbox:status500]]` come back as failed lines, `[[sandbox:contentPolicy]]` as a refusal
 * (finish reason content_filter). Caps are enforced as the providers do.
 * Each succeeded line is the sandbox's normal reply to that prompt (sandbox/reply.ts).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

import { requestRng } from './prng';
import {
	anthropicMessage,
	errorAnswer,
	MESSAGES,
	openAiCompletion,
	parseAnthropic,
	parseOpenAi,
	type Dialect as Provider,
	type ParsedCall,
} from './protocol';
import { promptDigest, replyFor, tokensForChars } from './reply';

export interface BatchCapsOption {
	maxRequests: number;
	maxBytes: number;
}

export interface BatchSandboxOptions {
	/** Time a batch takes to process all of its requests. @default 60000 */
	processingMs?: number;
	/** A batch not done this long after creation expires. @default 86400000 (24 h) */
	expiresAfterMs?: number;
	/** Time between a cancel request and the batch ending. @default 0 */
	cancelMs?: number;
	/** @default OpenAI 50,000 / 200 MB, Anthropic 100,000 / 256 MB */
	caps?: Partial<Record<Provider, BatchCapsOption>>;
	/** Hostile result files (OpenAI: the output file; Anthropic: the results stream). @default none */
	resultFaults?: ResultFaults;
	/** Every OpenAI batch created from now on fails as a whole with this error (e.g. `token_limit_exceeded`). */
	failBatches?: { code: string; message: string } | null;
}

/** Named faults of a result file; positions count the file's lines in the order they are sent. */
export interface ResultFaults {
	/** This line is replaced by invalid JSON that still begins with its custom_id. */
	garbledLine?: number;
	/** A line that is not JSON and names no custom_id is sent before this line. */
	unreadableLine?: number;
	/** The file's last line is cut off mid-JSON (a truncated download: half the line, no newline). */
	cutOffLastLine?: boolean;
	/**
	 * This line comes twice: `conflict` a second answer with other text after it, `error-first`
	 * an error line (500) for the same custom_id before it, `same` the identical line again.
	 */
	duplicateLine?: { at: number; kind: 'conflict' | 'error-first' | 'same' };
}

export interface BatchSandboxStats {
	batchesCreated: Record<Provider, number>;
	/** Request lines accepted into batches. */
	requestsReceived: number;
	/** custom_id -> times it arrived in a batch (over all batches). */
	received: Map<string, number>;
	/** Batches refused for breaking a cap. */
	capRejections: number;
}

export interface BatchSandbox {
	/** Handles a batch route; false when the path is not one. */
	handle(method: string, path: string, req: IncomingMessage, res: ServerResponse): boolean;
	configure(o: BatchSandboxOptions): void;
	stats(): BatchSandboxStats;
	reset(): void;
}

interface Line {
	customId: string;
	/** The request body (OpenAI) or params (Anthropic). */
	body: Record<string, unknown>;
}

interface Batch {
	id: string;
	provider: Provider;
	lines: Line[];
	/** Processing order: a shuffled permutation of line positions. */
	order: number[];
	createdAt: number;
	processingMs: number;
	expiresAt: number;
	cancelAt?: number;
	cancelMs: number;
	metadata: unknown;
	inputFileId?: string;
	/** OpenAI: input refused (caps, bad lines). */
	failure?: { code: string; message: string };
	outputFileId?: string;
	errorFileId?: string;
}

interface StoredFile {
	id: string;
	bytes: number;
	purpose: string;
	createdAt: number;
	/** Input files hold their lines; output/error files are generated on read. */
	content?: string;
	output?: { batch: Batch; kind: 'output' | 'error' };
}

const DEFAULT_CAPS: Record<Provider, BatchCapsOption> = {
	openai: { maxRequests: 50_000, maxBytes: 200 * 1024 * 1024 },
	anthropic: { maxRequests: 100_000, maxBytes: 256 * 1024 * 1024 },
};
const MAX_UPLOAD_BYTES = 512 * 1024 * 1024;
const CUSTOM_ID = /^[a-zA-Z0-9_-]{1,64}$/;

function readRaw(req: IncomingMessage): Promise<Buffer | undefined> {
	return new Promise((res, rej) => {
		const chunks: Buffer[] = [];
		let size = 0;
		req.on('data', (c: Buffer) => {
			size += c.length;
			if (size <= MAX_UPLOAD_BYTES) chunks.push(c);
		});
		req.on('end', () => res(size > MAX_UPLOAD_BYTES ? undefined : Buffer.concat(chunks)));
		req.on('error', rej);
	});
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
	if (res.destroyed || res.headersSent) return;
	const text = typeof body === 'string' ? body : JSON.stringify(body);
	res.writeHead(status, {
		'content-type': 'application/json',
		'content-length': String(Buffer.byteLength(text)),
	});
	res.end(text);
}

/** The `file` part of a multipart/form-data upload, plus the other fields. */
function parseMultipart(
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

/** Marks a fault line sent without its newline (see withFaults). */
const CUT_OFF = '\u0000cut-off\u0000';

/** A server-error result line for the custom_id of `line` (a duplicate fault's first line). */
function errorLineFor(provider: Provider, line: string): string {
	const customId = (JSON.parse(line) as { custom_id: string }).custom_id;
	if (provider === 'anthropic')
		return JSON.stringify({
			custom_id: customId,
			result: {
				type: 'errored',
				error: { type: 'error', error: { type: 'api_error', message: 'Internal server error' } },
			},
		});
	return JSON.stringify({
		id: `batch_req_dup_${customId}`,
		custom_id: customId,
		response: {
			status_code: 500,
			request_id: `req_dup_${customId}`,
			body: { error: { message: 'The server had an error', type: 'server_error' } },
		},
		error: null,
	});
}

function shuffle(n: number, rng: () => number): number[] {
	const a = Array.from({ length: n }, (_, i) => i);
	for (let i = n - 1; i > 0; i--) {
		const j = Math.floor(rng() * (i + 1));
		[a[i], a[j]] = [a[j], a[i]];
	}
	return a;
}

export function createBatchSandbox(deps: {
	now: () => number;
	seed: () => number;
	/** The API key check of the server; false answers 401. */
	authorized: (req: IncomingMessage) => boolean;
}): BatchSandbox {
	let o: Required<Omit<BatchSandboxOptions, 'caps'>> & { caps: Record<Provider, BatchCapsOption> } =
		{
			processingMs: 60_000,
			expiresAfterMs: 86_400_000,
			cancelMs: 0,
			caps: { ...DEFAULT_CAPS },
			resultFaults: {},
			failBatches: null,
		};
	let files = new Map<string, StoredFile>();
	let batches = new Map<string, Batch>();
	let seq = 0;
	let st: BatchSandboxStats = newStats();
	const nextId = (prefix: string) => `${prefix}${(++seq).toString(16).padStart(12, '0')}`;

	function newStats(): BatchSandboxStats {
		return {
			batchesCreated: { openai: 0, anthropic: 0 },
			requestsReceived: 0,
			received: new Map(),
			capRejections: 0,
		};
	}

	const finishAt = (b: Batch) => b.createdAt + b.processingMs;

	/** The moment processing stopped (or undefined while it runs). */
	function cutAt(b: Batch, t: number): number | undefined {
		if (b.failure) return b.createdAt;
		const candidates = [finishAt(b), b.expiresAt];
		if (b.cancelAt !== undefined) candidates.push(b.cancelAt);
		const cut = Math.min(...candidates);
		return t >= cut ? cut : undefined;
	}

	function phase(
		b: Batch,
		t: number,
	): {
		ended: boolean;
		canceling: boolean;
		reason: 'completed' | 'expired' | 'cancelled' | 'failed' | 'running';
		done: number;
		endedAt?: number;
	} {
		if (b.failure)
			return { ended: true, canceling: false, reason: 'failed', done: 0, endedAt: b.createdAt };
		const cut = cutAt(b, t);
		// Request k is done at createdAt + processingMs * (k + 1) / n.
		const n = b.lines.length;
		const doneBy = (x: number) =>
			b.processingMs <= 0
				? n
				: Math.max(0, Math.min(n, Math.floor(((x - b.createdAt) * n) / b.processingMs + 1e-9)));
		if (cut === undefined)
			return { ended: false, canceling: false, reason: 'running', done: doneBy(t) };
		const done = doneBy(cut);
		if (b.cancelAt !== undefined && cut === b.cancelAt && cut < finishAt(b)) {
			const endedAt = b.cancelAt + b.cancelMs;
			return t >= endedAt
				? { ended: true, canceling: false, reason: 'cancelled', done, endedAt }
				: { ended: false, canceling: true, reason: 'cancelled', done };
		}
		if (cut === finishAt(b) && cut <= b.expiresAt)
			return { ended: true, canceling: false, reason: 'completed', done, endedAt: cut };
		return { ended: true, canceling: false, reason: 'expired', done, endedAt: cut };
	}

	/** What one line's result is, given whether processing reached it. */
	function lineResult(
		b: Batch,
		line: Line,
		reached: boolean,
		reason: string,
	):
		| { kind: 'ok'; body: string; status: 200 }
		| { kind: 'error'; status: number; body: string }
		| { kind: 'not_done'; why: 'expired' | 'canceled' } {
		if (!reached) return { kind: 'not_done', why: reason === 'cancelled' ? 'canceled' : 'expired' };
		const parsed = b.provider === 'openai' ? parseOpenAi(line.body) : parseAnthropic(line.body);
		const requestId = `req_${b.id}_${line.customId}`;
		if (!parsed.ok) {
			const e = errorAnswer(b.provider, 'invalid_request', parsed.message, requestId);
			return { kind: 'error', status: e.status, body: e.body };
		}
		const call: ParsedCall = parsed.call;
		if (call.prompt.includes('[[sandbox:status400]]')) {
			const e = errorAnswer(
				b.provider,
				'invalid_request',
				'Invalid request (sandbox fault status400).',
				requestId,
			);
			return { kind: 'error', status: e.status, body: e.body };
		}
		if (call.prompt.includes('[[sandbox:status500]]')) {
			const e = errorAnswer(
				b.provider,
				'server',
				'The server had an error while processing your request.',
				requestId,
			);
			return { kind: 'error', status: e.status, body: e.body };
		}
		const digest = promptDigest(call.prompt);
		const reply = replyFor(
			{ prompt: call.prompt, schema: call.schema, mode: call.jsonObject ? 'json_object' : 'text' },
			digest,
		);
		// A refusal for content policy: the answer is paid, and not retryable.
		const refused = call.prompt.includes('[[sandbox:contentPolicy]]');
		const text = refused ? MESSAGES.refusal : reply.text;
		const parts = {
			id: `${b.id}_${line.customId}`,
			model: call.model,
			created: Math.floor(deps.now() / 1000),
			text,
			toolName: call.toolName,
			toolInput: reply.output,
			finish: refused ? ('content_filter' as const) : ('stop' as const),
			inputTokens: tokensForChars(call.inputChars),
			outputTokens: tokensForChars(text.length),
		};
		return {
			kind: 'ok',
			status: 200,
			body: b.provider === 'openai' ? openAiCompletion(parts) : anthropicMessage(parts),
		};
	}

	/** Result lines in processing order; `filter` picks OpenAI's output or error file. */
	function* resultLines(b: Batch, kind?: 'output' | 'error'): Generator<string> {
		const p = phase(b, deps.now());
		for (let k = 0; k < b.order.length; k++) {
			const line = b.lines[b.order[k]];
			const r = lineResult(b, line, k < p.done, p.reason);
			if (b.provider === 'anthropic') {
				const result =
					r.kind === 'ok'
						? { type: 'succeeded', message: JSON.parse(r.body) }
						: r.kind === 'error'
							? { type: 'errored', error: JSON.parse(r.body) }
							: { type: r.why };
				yield JSON.stringify({ custom_id: line.customId, result });
				continue;
			}
			const isOutput = r.kind === 'ok';
			if ((kind === 'output') !== isOutput) continue;
			const id = `batch_req_${b.id}_${k}`;
			if (r.kind === 'not_done') {
				yield JSON.stringify({
					id,
					custom_id: line.customId,
					response: null,
					error: {
						code: r.why === 'expired' ? 'batch_expired' : 'batch_cancelled',
						message:
							r.why === 'expired'
								? 'This request could not be executed before the completion window expired.'
								: 'This request was cancelled before it was executed.',
					},
				});
			} else {
				yield JSON.stringify({
					id,
					custom_id: line.customId,
					response: {
						status_code: r.status,
						request_id: `req_${b.id}_${k}`,
						body: JSON.parse(r.body),
					},
					error: null,
				});
			}
		}
	}

	const endedCounts = new WeakMap<Batch, { ok: number; errored: number }>();
	function counts(b: Batch, t: number) {
		const p = phase(b, t);
		let ok = 0;
		let errored = 0;
		const known = p.ended ? endedCounts.get(b) : undefined;
		if (known) ({ ok, errored } = known);
		else if (p.ended) {
			for (let k = 0; k < b.order.length; k++) {
				if (k >= p.done) continue;
				const r = lineResult(b, b.lines[b.order[k]], true, p.reason);
				if (r.kind === 'ok') ok++;
				else errored++;
			}
			endedCounts.set(b, { ok, errored });
		}
		return { p, ok, errored, notDone: p.ended ? b.lines.length - p.done : 0 };
	}

	function openAiBatchObject(b: Batch): Record<string, unknown> {
		const t = deps.now();
		const { p, ok, errored, notDone } = counts(b, t);
		let status: string;
		if (b.failure) status = 'failed';
		else if (p.ended) status = p.reason;
		else if (p.canceling) status = 'cancelling';
		else status = 'in_progress';
		if (p.ended && !b.failure) {
			b.outputFileId ??= addOutputFile(b, 'output');
			b.errorFileId ??= addOutputFile(b, 'error');
		}
		const s = (ms: number | undefined) => (ms === undefined ? null : Math.floor(ms / 1000));
		return {
			id: b.id,
			object: 'batch',
			endpoint: '/v1/chat/completions',
			errors: b.failure
				? {
						object: 'list',
						data: [{ code: b.failure.code, message: b.failure.message, line: null, param: null }],
					}
				: null,
			input_file_id: b.inputFileId,
			completion_window: '24h',
			status,
			output_file_id: p.ended && !b.failure ? b.outputFileId : null,
			error_file_id: p.ended && !b.failure ? b.errorFileId : null,
			created_at: s(b.createdAt),
			in_progress_at: s(b.createdAt),
			expires_at: s(b.expiresAt),
			finalizing_at: null,
			completed_at: status === 'completed' ? s(p.endedAt) : null,
			failed_at: status === 'failed' ? s(b.createdAt) : null,
			expired_at: status === 'expired' ? s(p.endedAt) : null,
			cancelling_at: s(b.cancelAt),
			cancelled_at: status === 'cancelled' ? s(p.endedAt) : null,
			request_counts: {
				total: b.lines.length,
				completed: p.ended ? ok : p.done,
				failed: p.ended ? errored + notDone : 0,
			},
			metadata: b.metadata ?? null,
		};
	}

	function anthropicBatchObject(b: Batch): Record<string, unknown> {
		const t = deps.now();
		const { p, ok, errored, notDone } = counts(b, t);
		const iso = (ms: number | undefined) => (ms === undefined ? null : new Date(ms).toISOString());
		return {
			id: b.id,
			type: 'message_batch',
			processing_status: p.ended ? 'ended' : p.canceling ? 'canceling' : 'in_progress',
			request_counts: {
				// Like the API: outcome counts stay 0 until the whole batch has ended.
				processing: p.ended ? 0 : b.lines.length,
				succeeded: p.ended ? ok : 0,
				errored: p.ended ? errored : 0,
				canceled: p.ended && p.reason === 'cancelled' ? notDone : 0,
				expired: p.ended && p.reason !== 'cancelled' ? notDone : 0,
			},
			ended_at: p.ended ? iso(p.endedAt) : null,
			created_at: iso(b.createdAt),
			expires_at: iso(b.expiresAt),
			archived_at: null,
			cancel_initiated_at: iso(b.cancelAt),
			results_url: p.ended ? `/v1/messages/batches/${b.id}/results` : null,
		};
	}

	function addOutputFile(b: Batch, kind: 'output' | 'error'): string {
		const id = nextId('file-');
		files.set(id, {
			id,
			bytes: 0,
			purpose: 'batch_output',
			createdAt: deps.now(),
			output: { batch: b, kind },
		});
		return id;
	}

	function newBatch(
		provider: Provider,
		lines: Line[],
		metadata: unknown,
		failure?: Batch['failure'],
	): Batch {
		const id = provider === 'openai' ? nextId('batch_') : nextId('msgbatch_');
		const now = deps.now();
		const rng = requestRng(deps.seed(), promptDigest(id), 0);
		const b: Batch = {
			id,
			provider,
			lines,
			order: shuffle(lines.length, rng),
			createdAt: now,
			processingMs: o.processingMs,
			expiresAt: now + o.expiresAfterMs,
			cancelMs: o.cancelMs,
			metadata,
			failure,
		};
		batches.set(id, b);
		if (!failure) {
			st.batchesCreated[provider]++;
			st.requestsReceived += lines.length;
			for (const l of lines) st.received.set(l.customId, (st.received.get(l.customId) ?? 0) + 1);
		}
		return b;
	}

	/** The configured result faults applied to a result file, line by line. */
	function withFaults(provider: Provider, lines: Iterable<string>): Iterable<string> {
		const f = o.resultFaults;
		return Object.keys(f).length === 0 ? lines : faulty(provider, [...lines], f);
	}

	function* faulty(provider: Provider, all: string[], f: ResultFaults): Generator<string> {
		for (let k = 0; k < all.length; k++) {
			let line = all[k];
			if (f.unreadableLine === k) yield '%%% not a result line %%%';
			if (f.duplicateLine?.at === k && f.duplicateLine.kind === 'error-first')
				yield errorLineFor(provider, line);
			if (f.garbledLine === k) line = `{${/"custom_id":"[^"]*"/.exec(line)?.[0]},"result": {oops`;
			if (f.cutOffLastLine && k === all.length - 1)
				line = CUT_OFF + line.slice(0, Math.floor(line.length / 2));
			yield line;
			if (f.duplicateLine?.at === k && f.duplicateLine.kind === 'same') yield line;
			if (f.duplicateLine?.at === k && f.duplicateLine.kind === 'conflict')
				yield line.replace(/"(content|text)":"/, '"$1":"A DIFFERENT ANSWER ');
		}
	}

	function streamLines(res: ServerResponse, lines: Iterable<string>, contentType: string): void {
		res.writeHead(200, { 'content-type': contentType });
		// One line at a time with backpressure: the file is never built in memory.
		const it = lines[Symbol.iterator]();
		const pump = () => {
			for (;;) {
				const n = it.next();
				if (n.done) return void res.end();
				// A cut-off last line (a fault) is sent without its newline, as a broken download ends.
				const text = n.value.startsWith(CUT_OFF) ? n.value.slice(CUT_OFF.length) : `${n.value}\n`;
				if (!res.write(text)) return void res.once('drain', pump);
			}
		};
		pump();
	}

	async function openAiCreateFile(req: IncomingMessage, res: ServerResponse): Promise<void> {
		const raw = await readRaw(req);
		if (!raw)
			return sendJson(res, 413, {
				error: { message: 'File too large.', type: 'invalid_request_error' },
			});
		const { fields, file } = parseMultipart(raw, String(req.headers['content-type'] ?? ''));
		if (!file)
			return sendJson(res, 400, {
				error: { message: "Missing required parameter: 'file'.", type: 'invalid_request_error' },
			});
		const id = nextId('file-');
		const purpose = fields.purpose ?? 'batch';
		files.set(id, {
			id,
			bytes: file.length,
			purpose,
			createdAt: deps.now(),
			content: file.toString('utf8'),
		});
		sendJson(res, 200, fileObject(files.get(id)!));
	}

	function fileObject(f: StoredFile) {
		return {
			id: f.id,
			object: 'file',
			bytes: f.bytes,
			created_at: Math.floor(f.createdAt / 1000),
			filename: f.output ? `${f.output.kind}.jsonl` : 'batch.jsonl',
			purpose: f.purpose,
			status: 'processed',
		};
	}

	async function openAiCreateBatch(req: IncomingMessage, res: ServerResponse): Promise<void> {
		const raw = await readRaw(req);
		let body: Record<string, unknown>;
		try {
			body = JSON.parse(raw?.toString('utf8') ?? '') as Record<string, unknown>;
		} catch {
			return sendJson(res, 400, {
				error: { message: 'Invalid JSON body.', type: 'invalid_request_error' },
			});
		}
		const file = files.get(String(body.input_file_id ?? ''));
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
		const endpoint = String(body.endpoint ?? '');
		const lines: Line[] = [];
		let failure: Batch['failure'];
		const caps = o.caps.openai;
		const text = file.content;
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
		if (o.failBatches) failure = { ...o.failBatches };
		if (count > caps.maxRequests || file.bytes > caps.maxBytes) {
			st.capRejections++;
			failure = {
				code: 'batch_too_large',
				message: `The batch input file is larger than the ${caps.maxRequests} requests / ${caps.maxBytes} bytes maximum.`,
			};
		}
		const b = newBatch('openai', failure ? [] : lines, body.metadata, failure);
		b.inputFileId = file.id;
		sendJson(res, 200, openAiBatchObject(b));
	}

	async function anthropicCreateBatch(req: IncomingMessage, res: ServerResponse): Promise<void> {
		const raw = await readRaw(req);
		const caps = o.caps.anthropic;
		const bad = (status: number, message: string) =>
			sendJson(res, status, {
				type: 'error',
				error: { type: status === 413 ? 'request_too_large' : 'invalid_request_error', message },
			});
		if (!raw) return bad(413, 'Request too large.');
		if (raw.length > caps.maxBytes) {
			st.capRejections++;
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
			st.capRejections++;
			return bad(
				400,
				`requests: at most ${caps.maxRequests} requests per batch, got ${body.requests.length}`,
			);
		}
		const seen = new Set<string>();
		const lines: Line[] = [];
		for (const [i, r] of (
			body.requests as Array<{ custom_id?: unknown; params?: unknown }>
		).entries()) {
			const id = r?.custom_id;
			if (typeof id !== 'string' || !CUSTOM_ID.test(id))
				return bad(
					400,
					`requests.${i}.custom_id: String should match pattern '^[a-zA-Z0-9_-]{1,64}$'`,
				);
			if (seen.has(id)) return bad(400, `requests.${i}.custom_id: duplicate custom_id ${id}`);
			seen.add(id);
			lines.push({ customId: id, body: (r.params ?? {}) as Record<string, unknown> });
		}
		sendJson(res, 200, anthropicBatchObject(newBatch('anthropic', lines, undefined)));
	}

	function route(
		method: string,
		path: string,
		req: IncomingMessage,
		res: ServerResponse,
	): Promise<void> | void {
		const provider: Provider = path.startsWith('/v1/messages/') ? 'anthropic' : 'openai';
		const notFound = () => {
			const e = errorAnswer(provider, 'not_found', `No such object: ${path}`, 'req_sbx');
			sendJson(res, e.status, e.body);
		};
		if (!deps.authorized(req)) {
			req.resume();
			const e = errorAnswer(provider, 'auth', 'invalid api key', 'req_sbx');
			return sendJson(res, e.status, e.body);
		}
		// OpenAI files
		if (method === 'POST' && path === '/v1/files') return openAiCreateFile(req, res);
		let m = /^\/v1\/files\/([^/]+)(\/content)?$/.exec(path);
		if (m && method === 'GET') {
			const f = files.get(decodeURIComponent(m[1]));
			if (!f) return notFound();
			if (!m[2]) return sendJson(res, 200, fileObject(f));
			if (f.output)
				return streamLines(
					res,
					f.output.kind === 'output'
						? withFaults('openai', resultLines(f.output.batch, 'output'))
						: resultLines(f.output.batch, 'error'),
					'application/octet-stream',
				);
			return streamLines(
				res,
				(f.content ?? '').split('\n').filter((l) => l !== ''),
				'application/octet-stream',
			);
		}
		// OpenAI batches
		if (method === 'POST' && path === '/v1/batches') return openAiCreateBatch(req, res);
		if (method === 'GET' && path === '/v1/batches') {
			const data = [...batches.values()]
				.filter((b) => b.provider === 'openai')
				.reverse()
				.map(openAiBatchObject);
			return sendJson(res, 200, {
				object: 'list',
				data,
				first_id: data[0]?.id ?? null,
				last_id: data.at(-1)?.id ?? null,
				has_more: false,
			});
		}
		m = /^\/v1\/batches\/([^/]+)(\/cancel)?$/.exec(path);
		if (m) {
			const b = batches.get(decodeURIComponent(m[1]));
			if (!b || b.provider !== 'openai') return notFound();
			if (m[2] && method === 'POST') {
				req.resume();
				if (!phase(b, deps.now()).ended && b.cancelAt === undefined) b.cancelAt = deps.now();
				return sendJson(res, 200, openAiBatchObject(b));
			}
			if (method === 'GET') return sendJson(res, 200, openAiBatchObject(b));
		}
		// Anthropic message batches
		if (method === 'POST' && path === '/v1/messages/batches') return anthropicCreateBatch(req, res);
		if (method === 'GET' && path === '/v1/messages/batches') {
			const data = [...batches.values()]
				.filter((b) => b.provider === 'anthropic')
				.reverse()
				.map(anthropicBatchObject);
			return sendJson(res, 200, {
				data,
				first_id: data[0]?.id ?? null,
				last_id: data.at(-1)?.id ?? null,
				has_more: false,
			});
		}
		m = /^\/v1\/messages\/batches\/([^/]+)(\/cancel|\/results)?$/.exec(path);
		if (m) {
			const b = batches.get(decodeURIComponent(m[1]));
			if (!b || b.provider !== 'anthropic') return notFound();
			if (m[2] === '/cancel' && method === 'POST') {
				req.resume();
				if (!phase(b, deps.now()).ended && b.cancelAt === undefined) b.cancelAt = deps.now();
				return sendJson(res, 200, anthropicBatchObject(b));
			}
			if (m[2] === '/results' && method === 'GET') {
				if (!phase(b, deps.now()).ended) {
					const e = errorAnswer(
						'anthropic',
						'invalid_request',
						`Batch ${b.id} has not ended yet.`,
						'req_sbx',
					);
					return sendJson(res, e.status, e.body);
				}
				return streamLines(res, withFaults('anthropic', resultLines(b)), 'application/binary');
			}
			if (!m[2] && method === 'GET') return sendJson(res, 200, anthropicBatchObject(b));
		}
		return notFound();
	}

	return {
		handle(method, path, req, res) {
			if (!/^\/v1\/(files|batches|messages\/batches)(\/|$)/.test(path)) return false;
			const work = route(method, path, req, res);
			if (work)
				work.catch((e: unknown) =>
					sendJson(res, 500, {
						error: { message: `sandbox: ${(e as Error).message}`, type: 'server_error' },
					}),
				);
			return true;
		},
		configure(next) {
			o = {
				processingMs: next.processingMs ?? o.processingMs,
				expiresAfterMs: next.expiresAfterMs ?? o.expiresAfterMs,
				cancelMs: next.cancelMs ?? o.cancelMs,
				caps: { ...o.caps, ...next.caps },
				resultFaults: next.resultFaults ?? o.resultFaults,
				failBatches: next.failBatches === undefined ? o.failBatches : next.failBatches,
			};
		},
		stats: () => st,
		reset() {
			files = new Map();
			batches = new Map();
			st = newStats();
		},
	};
}
