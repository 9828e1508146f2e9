import Anthropic from '@anthropic-ai/sdk';

import { emptyBody } from '../errors';
import { cancellableFetch, cancelOption } from './cancel';
import { anthropicMessageParams, readAnthropicMessage } from './bodies';
import { anthropicClient } from './clients';
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
	const client = anthropicClient(creds, cancellableFetch(fetchImpl ?? nodeHttpFetch));

	return {
		name: 'anthropic',
		async complete(req: ChatRequest, opts: CallOptions): Promise<ChatResponse> {
			const body = anthropicMessageParams(req);
			// The cancel signal goes to the fetch, not to the SDK (./cancel.ts says why).
			const { data: res, response } = await client.messages
				.create(body, { timeout: opts.timeoutMs, ...cancelOption(opts.signal) })
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
