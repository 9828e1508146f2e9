import OpenAI, { toFile } from 'openai';

import { openAiChatBody, readOpenAiChat } from '../../call/providers/bodies';
import type { ProviderCredentials } from '../../call/providers/types';
import { streamingFetch } from './stream-fetch';
import { jsonLineBatches } from '../jsonl';
import { readOpenAiResultLine } from '../results';
import type { BatchApi, BatchState, BatchStatus } from '../types';

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
	const client = new OpenAI({
		apiKey: creds.apiKey,
		baseURL: creds.baseUrl || undefined,
		organization: creds.organization || undefined,
		maxRetries: 0,
		fetch: fetchImpl ?? streamingFetch,
	});

	return {
		provider: 'openai',
		requestLine(customId, request) {
			return JSON.stringify({
				custom_id: customId,
				method: 'POST',
				url: OPENAI_BATCH_ENDPOINT,
				body: openAiChatBody(request),
			});
		},
		async create(lines, metadata) {
			const parts: string[] = [];
			for (const l of lines) parts.push(l, '\n');
			const file = await client.files.create({
				file: await toFile(new Blob(parts, { type: 'application/jsonl' }), 'batch.jsonl'),
				purpose: 'batch',
			});
			const batch = await client.batches.create({
				input_file_id: file.id,
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
		async *results(id, model) {
			const read = (body: Record<string, unknown>) =>
				readOpenAiChat(body as unknown as OpenAI.Chat.ChatCompletion, {
					model,
					prompt: '',
					maxTokens: 0,
				});
			const batch = await client.batches.retrieve(id);
			// The output file, then the error file, read chunk by chunk: one page per chunk.
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
		},
	};
}
