import OpenAI from 'openai';

import { loadFileMarkers } from '../attachments';
import { emptyBody } from '../errors';
import { cancellableFetch } from './cancel';
import { openAiChatBody, readOpenAiChat } from './bodies';
import { openAiClient } from './clients';
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
 * OpenAI chat completions, and every server that speaks them (Ollama, vLLM, LM Studio,
 * the sandbox). Chat completions rather than /v1/responses because the compatible servers
 * only offer this endpoint.
 */
export function createOpenAiProvider(
	creds: ProviderCredentials,
	fetchImpl?: typeof fetch,
): Provider {
	const client = openAiClient(
		creds,
		cancellableFetch(fetchImpl ? fileBodyFetch(fetchImpl) : nodeHttpFetch),
	);

	return {
		name: 'openai',
		async complete(req: ChatRequest, opts: CallOptions): Promise<ChatResponse> {
			// Read now, one request's files at a time: a run never holds every item's files. They
			// go to the fetch beside the body, which is built around markers (./file-body.ts says why).
			const { files, bytes } = await loadFileMarkers(req.attachments);
			const body = openAiChatBody(req, files);
			// The cancel signal goes to the fetch, not to the SDK (./cancel.ts says why).
			const { data: res, response } = await client.chat.completions
				.create(body, { timeout: opts.timeoutMs, ...sendOptions(opts.signal, bytes) })
				.withResponse()
				.catch((e: unknown) => {
					throw opts.signal?.aborted ? new OpenAI.APIUserAbortError() : e;
				});
			if (!res || typeof res !== 'object') throw emptyBody('openai');
			return {
				...readOpenAiChat(res, req),
				rateLimit: readRateLimit(response.headers, Date.now()),
			};
		},
	};
}
