import Anthropic from '@anthropic-ai/sdk';

import { anthropicMessageParams, readAnthropicMessage } from '../../call/providers/bodies';
import { anthropicClient } from '../../call/providers/clients';
import type { ProviderCredentials } from '../../call/providers/types';
import { streamingFetch } from './stream-fetch';
import { jsonLineBatches } from '../jsonl';
import { readAnthropicResultLine } from '../results';
import { asBatchLines, type BatchApi, type BatchState, type BatchStatus } from '../types';
import { postStreamed } from './upload';

/** The API version the SDK speaks (sent with the streamed create, which bypasses it). */
const ANTHROPIC_VERSION = '2023-06-01';

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
	const client = anthropicClient(creds, fetcher);
	return {
		provider: 'anthropic',
		requestLine(customId, request, files) {
			return JSON.stringify({
				custom_id: customId,
				params: anthropicMessageParams(request, files),
			});
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
			// The raw JSONL, not the SDK's decoder: the decoder throws on a line that is not JSON,
			// which would fail every record of the batch for one broken line.
			const res = await client.get<Response>(batch.results_url, {
				headers: { Accept: 'application/binary' },
				__binaryResponse: true,
			});
			if (!res.body) return;
			const read = (message: Record<string, unknown>) =>
				readAnthropicMessage(message as unknown as Anthropic.Message, {
					model,
					prompt: '',
					maxTokens: 0,
				});
			let n = 0;
			for await (const lines of jsonLineBatches(res.body as unknown as AsyncIterable<Uint8Array>))
				yield lines.map((line) => readAnthropicResultLine(line, read, `results line ${++n}`));
		},
	};
}
