import { loadFiles } from '../attachments';
import { emptyBody } from '../errors';
import { openAiChatBody, readOpenAiChat } from './bodies';
import { nodeHttpFetch } from './http-fetch';
import { openAiChatPoster } from './openai-chat';
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
	// Not the SDK client: ./openai-chat.ts says why, and keeps the SDK's errors.
	const post = openAiChatPoster(creds, fetchImpl ?? nodeHttpFetch);

	return {
		name: 'openai',
		async complete(req: ChatRequest, opts: CallOptions): Promise<ChatResponse> {
			// Read now, one request's files at a time: a run never holds every item's files.
			const body = openAiChatBody(req, await loadFiles(req.attachments));
			const { data: res, headers } = await post(body, opts);
			if (!res || typeof res !== 'object') throw emptyBody('openai');
			return {
				...readOpenAiChat(res as Parameters<typeof readOpenAiChat>[0], req),
				rateLimit: readRateLimit(headers, Date.now()),
			};
		},
	};
}
