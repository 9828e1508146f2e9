import Anthropic from '@anthropic-ai/sdk';

import { loadFileMarkers } from '../attachments';
import { emptyBody } from '../errors';
import { cancellableFetch } from './cancel';
import { anthropicMessageParams, readAnthropicMessage } from './bodies';
import { anthropicClient } from './clients';
import { fileBodyFetch, sendOptions } from './file-body';
import { nodeHttpFetch } from './http-fetch';
import type {
	CallOptions,
	ChatRequest,
	ChatResponse,
	Provider,
	ProviderCredentials,
} from './types';
import { readRateLimit } from '../rate-headers';

/**
 * Anthropic messages. Structured output goes through a forced tool whose input schema is
 * the user's schema: the model must answer by "calling" it, and the tool input is the data.
 */
export function createAnthropicProvider(
	creds: ProviderCredentials,
	fetchImpl?: typeof fetch,
): Provider {
	const client = anthropicClient(
		creds,
		cancellableFetch(fetchImpl ? fileBodyFetch(fetchImpl) : nodeHttpFetch),
	);

	return {
		name: 'anthropic',
		async complete(req: ChatRequest, opts: CallOptions): Promise<ChatResponse> {
			// Read now, one request's files at a time: a run never holds every item's files. They
			// go to the fetch beside the body, which is built around markers (./file-body.ts says why).
			const { files, bytes } = await loadFileMarkers(req.attachments);
			const body = anthropicMessageParams(req, files);
			// The cancel signal goes to the fetch, not to the SDK (./cancel.ts says why).
			const { data: res, response } = await client.messages
				.create(body, { timeout: opts.timeoutMs, ...sendOptions(opts.signal, bytes) })
				.withResponse()
				.catch((e: unknown) => {
					throw opts.signal?.aborted ? new Anthropic.APIUserAbortError() : e;
				});
			if (!res || typeof res !== 'object') throw emptyBody('anthropic');
			return {
				...readAnthropicMessage(res, req),
				rateLimit: readRateLimit(response.headers, Date.now()),
			};
		},
	};
}
