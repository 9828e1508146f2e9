import { loadFileMarkers } from '../attachments';
import { emptyBody } from '../errors';
import { openAiChatBody, readOpenAiChat } from './bodies';
import { fileBodyFetch } from './file-body';
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
	const post = openAiChatPoster(creds, fetchImpl ? fileBodyFetch(fetchImpl) : nodeHttpFetch);

	return {
		name: 'openai',
		async complete(req: ChatRequest, opts: CallOptions): Promise<ChatResponse> {
			// Read now, one request's files at a time: a run never holds every item's files. They
			// go to the fetch beside the body, which is built around markers (./file-body.ts says why).
			const { files, bytes } = await loadFileMarkers(req.attachments);
			const body = openAiChatBody(req, files);
			const { data: res, headers } = await post(body, { ...opts, files: bytes });
			if (!res || typeof res !== 'object') throw emptyBody('openai');
			return {
				...readOpenAiChat(res as Parameters<typeof readOpenAiChat>[0], req),
				rateLimit: readRateLimit(headers, Date.now()),
			};
		},
	};
}
