import Anthropic from '@anthropic-ai/sdk';

import { anthropicMessageParams, readAnthropicMessage } from '../../call/providers/bodies';
import type { ProviderCredentials } from '../../call/providers/types';
import { streamingFetch } from './stream-fetch';
import { readAnthropicResultLine } from '../results';
import {
	asBatchLines,
	type BatchApi,
	type BatchResultLine,
	type BatchState,
	type BatchStatus,
} from '../types';
import { postStreamed } from './upload';

/** The API version the SDK speaks (sent with the streamed create, which bypasses it). */
const ANTHROPIC_VERSION = '2023-06-01';

/** Lines per page handed on from the SDK's line-by-line decoder. */
const RESULT_PAGE = 200;

const STATE: Record<string, BatchState> = {
	in_progress: 'in_progress',
	canceling: 'canceling',
	ended: 'ended',
};

/** An Anthropic message batch, normalised. */
export function anthropicBatchStatus(b: Anthropic.Messages.MessageBatch): BatchStatus {
	const c = b.request_counts;
	return {
		id: b.id,
		provider: 'anthropic',
		state: STATE[b.processing_status] ?? 'in_progress',
		providerStatus: b.processing_status,
		counts: {
			total: c.processing + c.succeeded + c.errored + c.canceled + c.expired,
			processing: c.processing,
			succeeded: c.succeeded,
			errored: c.errored,
			canceled: c.canceled,
			expired: c.expired,
		},
		createdAt: b.created_at,
		expiresAt: b.expires_at,
		endedAt: b.ended_at ?? undefined,
		...(b.processing_status === 'ended' ? { resultsReady: Boolean(b.results_url) } : {}),
	};
}

/**
 * Anthropic Message Batches: the requests go in the create call's body; results are a JSONL
 * stream the SDK decodes line by line (`for await`).
 */
export function createAnthropicBatchApi(
	creds: ProviderCredentials,
	fetchImpl?: typeof fetch,
): BatchApi {
	const fetcher = fetchImpl ?? streamingFetch;
	const client = new Anthropic({
		apiKey: creds.apiKey,
		baseURL: creds.baseUrl || undefined,
		maxRetries: 0,
		fetch: fetcher,
	});
	return {
		provider: 'anthropic',
		requestLine(customId, request) {
			return JSON.stringify({ custom_id: customId, params: anthropicMessageParams(request) });
		},
		async create(lines) {
			// The requests go up as they are built (the SDK would parse every line and build the
			// whole body as one string first).
			const res = await postStreamed(fetcher, asBatchLines(lines), {
				url: `${client.baseURL.replace(/\/+$/, '')}/v1/messages/batches`,
				headers: {
					'x-api-key': creds.apiKey,
					'anthropic-version': ANTHROPIC_VERSION,
					'content-type': 'application/json',
					accept: 'application/json',
				},
				head: '{"requests":[',
				tail: ']}',
				separator: ',',
				trailingSeparator: false,
			});
			const batch = res.json as Anthropic.Messages.MessageBatch | undefined;
			if (res.status >= 300 || typeof batch?.id !== 'string')
				throw Anthropic.APIError.generate(res.status, res.json as object, undefined, res.headers);
			return anthropicBatchStatus(batch);
		},
		async retrieve(id) {
			return anthropicBatchStatus(await client.messages.batches.retrieve(id));
		},
		async cancel(id) {
			return anthropicBatchStatus(await client.messages.batches.cancel(id));
		},
		async findSubmission(_key, o) {
			// Message batches carry no metadata: every batch since `after` with the intent's request
			// count (newest first); adoption.ts decides, custom_ids confirm.
			const batches: BatchStatus[] = [];
			for await (const b of client.messages.batches.list({ limit: 100 })) {
				if (Date.parse(b.created_at) < o.after) break;
				const c = b.request_counts;
				const total = c.processing + c.succeeded + c.errored + c.canceled + c.expired;
				if (total === o.count) batches.push(anthropicBatchStatus(b));
			}
			return { byKey: false, batches };
		},
		async *results(id, model) {
			// The SDK throws when the batch has no results_url (nothing to read): no lines then;
			// Collect decides from the batch's counts what the records get.
			const batch = await client.messages.batches.retrieve(id);
			if (!batch.results_url) return;
			const decoder = await client.messages.batches.results(id);
			// The SDK's decoder yields line by line; handed on in pages of RESULT_PAGE lines.
			let page: BatchResultLine[] = [];
			for await (const entry of decoder) {
				page.push(
					readAnthropicResultLine(entry, (message) =>
						readAnthropicMessage(message as unknown as Anthropic.Message, {
							model,
							prompt: '',
							maxTokens: 0,
						}),
					),
				);
				if (page.length >= RESULT_PAGE) {
					yield page;
					page = [];
				}
			}
			if (page.length > 0) yield page;
		},
	};
}
