import { randomUUID } from 'node:crypto';

import OpenAI from 'openai';

import { openAiChatBody, readOpenAiChat } from '../../call/providers/bodies';
import { openAiClient } from '../../call/providers/clients';
import type { ProviderCredentials } from '../../call/providers/types';
import { streamingFetch } from './stream-fetch';
import { jsonLineBatches } from '../jsonl';
import { readOpenAiResultLine } from '../results';
import { asBatchLines, type BatchApi, type BatchState, type BatchStatus } from '../types';
import { postStreamed } from './upload';

export const OPENAI_BATCH_ENDPOINT = '/v1/chat/completions';

const STATE: Record<string, BatchState> = {
	validating: 'validating',
	in_progress: 'in_progress',
	finalizing: 'finalizing',
	cancelling: 'canceling',
	completed: 'ended',
	failed: 'ended',
	expired: 'ended',
	cancelled: 'ended',
};

const iso = (s: number | null | undefined) =>
	typeof s === 'number' && s > 0 ? new Date(s * 1000).toISOString() : undefined;

/** An OpenAI batch object, normalised. */
export function openAiBatchStatus(b: OpenAI.Batches.Batch): BatchStatus {
	const c = b.request_counts ?? { total: 0, completed: 0, failed: 0 };
	const state = STATE[b.status] ?? 'in_progress';
	const ended = state === 'ended';
	const errors = b.status === 'failed' ? (b.errors?.data ?? []) : [];
	const failure =
		b.status === 'failed'
			? errors
					.map(
						(e) => `${e.code ?? 'error'}${e.line ? ` (line ${e.line})` : ''}: ${e.message ?? ''}`,
					)
					.join('; ') || 'the input file did not validate'
			: undefined;
	return {
		id: b.id,
		provider: 'openai',
		state,
		providerStatus: b.status,
		counts: {
			total: c.total,
			processing: ended ? 0 : Math.max(0, c.total - c.completed - c.failed),
			succeeded: c.completed,
			errored: c.failed,
			// OpenAI counts expired and cancelled requests as failed; the result lines tell them apart.
			canceled: 0,
			expired: 0,
		},
		createdAt: iso(b.created_at) ?? new Date(0).toISOString(),
		expiresAt: iso(b.expires_at),
		endedAt: iso(b.completed_at ?? b.failed_at ?? b.expired_at ?? b.cancelled_at),
		failure,
		...(errors[0]?.code ? { failureCode: errors[0].code } : {}),
	};
}

/**
 * OpenAI Batch: the lines go up as a JSONL file (`purpose: batch`), the batch runs on
 * /v1/chat/completions with the 24 h window, results come back as an output and an error
 * file, read chunk by chunk (streamingFetch).
 */
export function createOpenAiBatchApi(
	creds: ProviderCredentials,
	fetchImpl?: typeof fetch,
): BatchApi {
	const fetcher = fetchImpl ?? streamingFetch;
	const client = openAiClient(creds, fetcher);

	return {
		provider: 'openai',
		requestLine(customId, request, files) {
			return JSON.stringify({
				custom_id: customId,
				method: 'POST',
				url: OPENAI_BATCH_ENDPOINT,
				body: openAiChatBody(request, files),
			});
		},
		async create(lines, metadata) {
			const fileId = await uploadBatchFile(fetcher, client, creds, asBatchLines(lines));
			const batch = await client.batches.create({
				input_file_id: fileId,
				endpoint: OPENAI_BATCH_ENDPOINT,
				completion_window: '24h',
				metadata,
			});
			return openAiBatchStatus(batch);
		},
		async retrieve(id) {
			return openAiBatchStatus(await client.batches.retrieve(id));
		},
		async cancel(id) {
			return openAiBatchStatus(await client.batches.cancel(id));
		},
		async findSubmission(key, o) {
			// Newest first; a batch created before the intent's window cannot be it.
			for await (const b of client.batches.list({ limit: 100 })) {
				if (b.created_at * 1000 < o.after) break;
				if ((b.metadata as Record<string, string> | null)?.submission === key)
					return { byKey: true, batches: [openAiBatchStatus(b)] };
			}
			return { byKey: true, batches: [] };
		},
		results: (id, model) => openAiResults(client, id, model),
	};
}

/** The input file, streamed as multipart/form-data (the SDK would build it whole first). */
async function uploadBatchFile(
	fetcher: typeof fetch,
	client: OpenAI,
	creds: ProviderCredentials,
	lines: ReturnType<typeof asBatchLines>,
): Promise<string> {
	const boundary = `llm-batch-${randomUUID()}`;
	const res = await postStreamed(fetcher, lines, {
		url: `${client.baseURL.replace(/\/+$/, '')}/files`,
		headers: {
			authorization: `Bearer ${creds.apiKey}`,
			...(creds.organization ? { 'openai-organization': creds.organization } : {}),
			'content-type': `multipart/form-data; boundary=${boundary}`,
			accept: 'application/json',
		},
		head:
			`--${boundary}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nbatch\r\n` +
			`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="batch.jsonl"\r\n` +
			'Content-Type: application/jsonl\r\n\r\n',
		tail: `\r\n--${boundary}--\r\n`,
		separator: '\n',
		trailingSeparator: true,
	});
	const file = res.json as { id?: unknown } | undefined;
	if (res.status >= 300 || typeof file?.id !== 'string')
		throw OpenAI.APIError.generate(res.status, res.json as object, undefined, res.headers);
	return file.id;
}

/** The output file, then the error file, read chunk by chunk: one page per chunk. */
async function* openAiResults(client: OpenAI, id: string, model: string) {
	const read = (body: Record<string, unknown>) =>
		readOpenAiChat(body as unknown as OpenAI.Chat.ChatCompletion, {
			model,
			prompt: '',
			maxTokens: 0,
		});
	const batch = await client.batches.retrieve(id);
	for (const [file, fileId] of [
		['output', batch.output_file_id],
		['error', batch.error_file_id],
	] as const) {
		if (!fileId) continue;
		const res = await client.files.content(fileId);
		if (!res.body) continue;
		let n = 0;
		for await (const lines of jsonLineBatches(res.body as unknown as AsyncIterable<Uint8Array>))
			yield lines.map((line) => readOpenAiResultLine(line, read, `${file} file line ${++n}`));
	}
}
