import OpenAI from 'openai';

import { isOpenAiReasoningModel } from '../../models';
import { emptyBody } from '../errors';
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
			const messages: OpenAI.Chat.ChatCompletionMessageParam[] = [];
			if (req.system) messages.push({ role: 'system', content: req.system });
			messages.push({ role: 'user', content: req.prompt });
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
			};
			const res = await client.chat.completions.create(body, {
				signal: opts.signal,
				timeout: opts.timeoutMs,
			});
			if (!res || typeof res !== 'object') throw emptyBody('openai');
			const choice = res.choices?.[0];
			const message = choice?.message;
			const refusal = message?.refusal || undefined;
			return {
				text: message?.content ?? '',
				// A refusal comes with finish_reason "stop" and content null: it is a refusal.
				finishReason: refusal ? 'content_filter' : (choice?.finish_reason ?? 'stop'),
				refusal,
				usage: {
					inputTokens: res.usage?.prompt_tokens ?? 0,
					outputTokens: res.usage?.completion_tokens ?? 0,
				},
				model: res.model ?? req.model,
				requestId: (res as { _request_id?: string | null })._request_id ?? undefined,
			};
		},
	};
}
