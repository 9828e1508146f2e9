/**
 * The Gemini Batch API (`models/{model}:batchGenerateContent`) at half the realtime price:
 * the requests go up as a JSONL file through the Files API (resumable upload, streamed), each
 * line keyed by its custom_id; results come back as a responses file whose lines carry the same
 * key, and are joined by it.
 *
 * Why a file even for a small batch, though up to 20 MB may go inline: Gemini's backend does not
 * return an inline request's `metadata` with its inlined response (documented, not implemented:
 * googleapis/python-genai#2008, js-genai#1191), and inlined responses are not reliably in input
 * order at scale (python-genai#1909) — an inline batch's answers could only be joined by
 * position, which would publish another record's answer. `inlineMaxBytes` turns the inline
 * route on (the sandbox returns the keys as documented); responses without a key are never
 * joined by position. The request bodies and the answer reader
 * are LLM Batch Call's (core/call/providers/gemini-bodies.ts).
 */
import {
	GEMINI_API_VERSION,
	GeminiHttpError,
	geminiClient,
	type GeminiClient,
} from '../../call/providers/clients';
import { geminiModelPath } from '../../call/providers/gemini';
import { geminiFileParts } from '../../call/attachments';
import { geminiRequestBody, readGeminiResponse } from '../../call/providers/gemini-bodies';
import type { ProviderCredentials } from '../../call/providers/types';
import { jsonLineBatches } from '../jsonl';
import { readGeminiResultLine } from '../results';
import {
	asBatchLines,
	type BatchApi,
	type BatchLines,
	type BatchResultLine,
	type BatchState,
	type BatchStatus,
} from '../types';
import { streamingFetch } from './stream-fetch';
import { postStreamed } from './upload';

/** Gemini's cap on inline requests (the whole create body), with room for its envelope. */
export const GEMINI_INLINE_MAX_BYTES = 20_000_000 - 64 * 1024;

/**
 * Gemini expires a batch still pending or running 48 hours after its creation (its target
 * turnaround is 24 h); it reports no expiry time, so it is computed from `createTime`.
 */
const EXPIRY_MS = 48 * 3600 * 1000;

/** The display name that marks a submission's batch: listing batches finds it by its nonce. */
export const geminiDisplayName = (nonce: string) => `llm-batch ${nonce}`;

const V = `/${GEMINI_API_VERSION}`;

interface GeminiBatch {
	name?: string;
	state?: string;
	createTime?: string;
	endTime?: string;
	updateTime?: string;
	displayName?: string;
	batchStats?: Record<string, string | number | undefined>;
	output?: {
		responsesFile?: string;
		inlinedResponses?: { inlinedResponses?: unknown[] };
	};
	/** The operation's error, when the batch failed as a whole. */
	error?: { code?: number; message?: string; status?: string };
}

/**
 * A batch as the API answers it — a long-running operation (`{name, metadata: batch, done,
 * response: output, error}`) or the batch resource itself — as one batch object.
 */
export function geminiBatchOf(data: unknown): GeminiBatch {
	const d = (data ?? {}) as Record<string, unknown>;
	const meta = d.metadata as GeminiBatch | undefined;
	if (meta && typeof meta === 'object' && 'state' in meta) {
		const response = d.response as GeminiBatch['output'] | undefined;
		return {
			...meta,
			name: meta.name ?? (d.name as string | undefined),
			output: meta.output ?? response,
			...(d.error ? { error: d.error as GeminiBatch['error'] } : {}),
		};
	}
	return d as GeminiBatch;
}

/** BATCH_STATE_RUNNING (REST) or JOB_STATE_RUNNING (SDKs) -> `running`. */
const word = (state: string | undefined) =>
	(state ?? 'BATCH_STATE_PENDING').replace(/^(BATCH|JOB)_STATE_/, '').toLowerCase();

const ENDED = new Set(['succeeded', 'failed', 'cancelled', 'expired']);

/** A Gemini batch, normalised. */
export function geminiBatchStatus(data: unknown): BatchStatus {
	const b = geminiBatchOf(data);
	const status = word(b.state);
	const ended = ENDED.has(status);
	const n = (k: string) => Number(b.batchStats?.[k] ?? 0) || 0;
	const total = n('requestCount');
	const succeeded = n('successfulRequestCount');
	const errored = n('failedRequestCount');
	const pending = ended ? Math.max(0, total - succeeded - errored) : n('pendingRequestCount');
	const created = b.createTime ?? new Date(0).toISOString();
	const state: BatchState = ended ? 'ended' : 'in_progress';
	const output = b.output;
	return {
		id: b.name ?? '',
		provider: 'gemini',
		state,
		providerStatus: status,
		counts: {
			total,
			processing: ended ? 0 : pending || Math.max(0, total - succeeded - errored),
			succeeded,
			errored,
			canceled: status === 'cancelled' ? pending : 0,
			expired: status === 'expired' ? pending : 0,
		},
		createdAt: created,
		expiresAt: new Date(Date.parse(created) + EXPIRY_MS).toISOString(),
		...(ended ? { endedAt: b.endTime ?? b.updateTime } : {}),
		...(status === 'failed'
			? {
					failure: b.error?.message || 'the batch failed',
					...(b.error?.status ? { failureCode: b.error.status } : {}),
				}
			: {}),
		...(ended ? { resultsReady: Boolean(output?.responsesFile || output?.inlinedResponses) } : {}),
	};
}

/**
 * A file line (`{"key":K,"request":R}`) as an inline request (`{"metadata":{"key":K},
 * "request":R}`), rewritten in place: a custom_id is `[a-zA-Z0-9_-]`, so its JSON needs no
 * escapes and the rewrite is exact.
 */
const FILE_HEAD = '{"key":"';
const INLINE_HEAD = '{"metadata":{"key":"';
const GROWTH = Buffer.byteLength(INLINE_HEAD) + 1 - Buffer.byteLength(FILE_HEAD);

export function inlineRequest(line: string): string {
	const end = line.indexOf('"', FILE_HEAD.length);
	return `${INLINE_HEAD}${line.slice(FILE_HEAD.length, end)}"},${line.slice(end + 2)}`;
}

function inlineLines(lines: BatchLines): BatchLines {
	return {
		count: lines.count,
		bytes: lines.bytes + GROWTH * lines.count,
		async *pages() {
			for await (const page of lines.pages()) yield page.map(inlineRequest);
		},
	};
}

/** The batch's input file, streamed up through the Files API's resumable upload. */
async function uploadFile(
	client: GeminiClient,
	fetcher: typeof fetch,
	lines: BatchLines,
	displayName: string,
): Promise<string> {
	const length = lines.bytes + lines.count; // each line and its newline
	const start = await client.json<unknown>(
		'POST',
		`/upload${V}/files`,
		{ file: { displayName } },
		{
			headers: {
				'x-goog-upload-protocol': 'resumable',
				'x-goog-upload-command': 'start',
				'x-goog-upload-header-content-length': String(length),
				'x-goog-upload-header-content-type': 'application/jsonl',
			},
		},
	);
	const url = start.headers.get('x-goog-upload-url');
	if (!url) return Promise.reject(new GeminiHttpError(502, 'no upload URL', start.headers));
	const res = await postStreamed(fetcher, lines, {
		url,
		headers: {
			...client.auth,
			'x-goog-upload-command': 'upload, finalize',
			'x-goog-upload-offset': '0',
			'content-type': 'application/jsonl',
		},
		head: '',
		tail: '',
		separator: '\n',
		trailingSeparator: true,
	});
	const name = (res.json as { file?: { name?: unknown } } | undefined)?.file?.name;
	if (res.status >= 300 || typeof name !== 'string')
		return Promise.reject(new GeminiHttpError(res.status, res.json, res.headers));
	return name;
}

export function createGeminiBatchApi(
	creds: ProviderCredentials,
	fetchImpl?: typeof fetch,
	/** Send batches up to this size inline (at most GEMINI_INLINE_MAX_BYTES). @default 0: never */
	o: { inlineMaxBytes?: number } = {},
): BatchApi {
	const fetcher = fetchImpl ?? streamingFetch;
	const client = geminiClient(creds, fetcher);
	const inlineMax = Math.min(o.inlineMaxBytes ?? 0, GEMINI_INLINE_MAX_BYTES);
	const get = async (id: string) => (await client.json<unknown>('GET', `${V}/${id}`)).data;

	async function create(batchLines: BatchLines, metadata: Record<string, string>) {
		if (!metadata.model) return Promise.reject(new TypeError('Gemini batches need a model'));
		const path = `${V}/${geminiModelPath(metadata.model)}:batchGenerateContent`;
		const displayName = geminiDisplayName(metadata.submission ?? '');
		const inline = inlineLines(batchLines);
		if (inline.count > 0 && inline.bytes + inline.count <= inlineMax) {
			const res = await postStreamed(fetcher, inline, {
				url: `${client.root}${path}`,
				headers: { ...client.auth, 'content-type': 'application/json', accept: 'application/json' },
				head: `{"batch":{"displayName":${JSON.stringify(displayName)},"inputConfig":{"requests":{"requests":[`,
				tail: ']}}}}',
				separator: ',',
				trailingSeparator: false,
			});
			if (res.status >= 300 || !geminiBatchOf(res.json).name)
				return Promise.reject(new GeminiHttpError(res.status, res.json, res.headers));
			return geminiBatchStatus(res.json);
		}
		const fileName = await uploadFile(client, fetcher, batchLines, displayName);
		const { data } = await client.json<unknown>('POST', path, {
			batch: { displayName, inputConfig: { fileName } },
		});
		return geminiBatchStatus(data);
	}

	return {
		provider: 'gemini',
		requestLine(customId, request, files) {
			const parts = files && files.length > 0 ? geminiFileParts(files) : undefined;
			return JSON.stringify({ key: customId, request: geminiRequestBody(request, parts) });
		},
		create: (lines, metadata) => create(asBatchLines(lines), metadata),
		retrieve: async (id) => geminiBatchStatus(await get(id)),
		async cancel(id) {
			await client.json<unknown>('POST', `${V}/${id}:cancel`, {});
			return geminiBatchStatus(await get(id));
		},
		findSubmission: (key, o) => findByDisplayName(client, key, o.after),
		results: (id, model) => geminiResults(client, fetcher, get, id, model),
	};
}

/** A submission's batch by the nonce its display name carries: an exact match, newest first. */
async function findByDisplayName(
	client: ReturnType<typeof geminiClient>,
	key: string,
	after: number,
): Promise<{ byKey: true; batches: BatchStatus[] }> {
	const name = geminiDisplayName(key);
	let token = '';
	do {
		const q = `pageSize=100${token ? `&pageToken=${encodeURIComponent(token)}` : ''}`;
		const { data } = await client.json<{ operations?: unknown[]; nextPageToken?: string }>(
			'GET',
			`${V}/batches?${q}`,
		);
		for (const op of data.operations ?? []) {
			const b = geminiBatchOf(op);
			if (b.displayName === name) return { byKey: true, batches: [geminiBatchStatus(op)] };
			if (b.createTime && Date.parse(b.createTime) < after) return { byKey: true, batches: [] };
		}
		token = data.nextPageToken ?? '';
	} while (token);
	return { byKey: true, batches: [] };
}

/** A batch's results: its inlined responses, or its responses file read chunk by chunk. */
async function* geminiResults(
	client: ReturnType<typeof geminiClient>,
	fetcher: typeof fetch,
	get: (id: string) => Promise<unknown>,
	id: string,
	model: string,
): AsyncGenerator<BatchResultLine[]> {
	const read = (response: Record<string, unknown>) => readGeminiResponse(response, { model });
	const output = geminiBatchOf(await get(id)).output;
	const inlined = output?.inlinedResponses?.inlinedResponses;
	if (Array.isArray(inlined)) {
		const page: BatchResultLine[] = inlined.map((r, i) =>
			readGeminiResultLine(r, read, `inlined response ${i + 1}`),
		);
		if (page.length > 0) yield page;
		return;
	}
	if (!output?.responsesFile) return;
	const res = await fetcher(
		`${client.root}/download${V}/${output.responsesFile}:download?alt=media`,
		{ headers: client.auth },
	);
	if (!res.ok) {
		const text = await res.text();
		let body: unknown = text;
		try {
			body = JSON.parse(text);
		} catch {
			// not JSON: kept as text
		}
		return await Promise.reject(new GeminiHttpError(res.status, body, res.headers));
	}
	if (!res.body) return;
	let n = 0;
	for await (const lines of jsonLineBatches(res.body as unknown as AsyncIterable<Uint8Array>))
		yield lines.map((line) => readGeminiResultLine(line, read, `responses file line ${++n}`));
}
