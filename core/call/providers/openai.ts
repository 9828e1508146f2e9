import OpenAI from 'openai';

import { emptyBody } from '../errors';
import { openAiChatBody, readOpenAiChat } from './bodies';
import { nodeHttpFetch } from './http-fetch';
import type {
	CallOptions,
	ChatRequest,
	ChatResponse,
	Provider,
	ProviderCredentials,
} from './types';

/**
 * OpenAI chat completions, and every server that speaks them (Ollama, vLLM, LM Studio,
 * the sandbox). Chat completions rather than /v1/responses because the compatible servers
 * only offer this endpoint.
 */
export function createOpenAiProvider(
	creds: ProviderCredentials,
	fetchImpl?: typeof fetch,
): Provider {
	const client = new OpenAI({
		apiKey: creds.apiKey,
		baseURL: creds.baseUrl || undefined,
		organization: creds.organization || undefined,
		// The runner is the one retry layer; SDK retries would multiply attempts.
		maxRetries: 0,
		fetch: fetchImpl ?? nodeHttpFetch,
	});

	return {
		name: 'openai',
		async complete(req: ChatRequest, opts: CallOptions): Promise<ChatResponse> {
			const body = openAiChatBody(req);
			const res = await client.chat.completions.create(body, {
				signal: opts.signal,
				timeout: opts.timeoutMs,
			});
			if (!res || typeof res !== 'object') throw emptyBody('openai');
			return readOpenAiChat(res, req);
		},
	};
}
