import OpenAI from 'openai';

import { isOpenAiReasoningModel } from '../../models';
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
			const messages: OpenAI.Chat.ChatCompletionMessageParam[] = [];
			if (req.system) messages.push({ role: 'system', content: req.system });
			messages.push({ role: 'user', content: req.prompt });
			if (req.followUp) {
				messages.push({ role: 'assistant', content: req.followUp.answer });
				messages.push({ role: 'user', content: req.followUp.errors });
			}
			const reasoning = isOpenAiReasoningModel(req.model);
			const body: OpenAI.Chat.ChatCompletionCreateParamsNonStreaming = {
				model: req.model,
				messages,
				...(reasoning ? { max_completion_tokens: req.maxTokens } : { max_tokens: req.maxTokens }),
				...(req.temperature !== undefined && !reasoning ? { temperature: req.temperature } : {}),
				...(req.schema
					? {
							response_format: {
								type: 'json_schema',
								json_schema: { name: 'output', schema: req.schema, strict: false },
							},
						}
					: {}),
				// The system prompt and the schema come first and stay the same for every item,
				// so they are the cached prefix; the key keeps same-prefix requests together.
				...(req.cache?.key ? { prompt_cache_key: req.cache.key } : {}),
			};
			const { data: res, response } = await client.chat.completions
				.create(body, { signal: opts.signal, timeout: opts.timeoutMs })
				.withResponse();
			const choice = res.choices?.[0];
			const message = choice?.message;
			return {
				text: message?.content ?? '',
				finishReason: choice?.finish_reason ?? 'stop',
				refusal: message?.refusal ?? undefined,
				usage: {
					inputTokens: res.usage?.prompt_tokens ?? 0,
					outputTokens: res.usage?.completion_tokens ?? 0,
					...(res.usage?.prompt_tokens_details?.cached_tokens
						? { cachedInputTokens: res.usage.prompt_tokens_details.cached_tokens }
						: {}),
				},
				model: res.model ?? req.model,
				requestId: (res as { _request_id?: string | null })._request_id ?? undefined,
				rateLimit: readRateLimit(response.headers, Date.now()),
			};
		},
	};
}
