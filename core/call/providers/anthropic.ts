import Anthropic from '@anthropic-ai/sdk';

import type { Usage } from '../../types';
import { nodeHttpFetch } from './http-fetch';
import type {
	CallOptions,
	ChatRequest,
	ChatResponse,
	Provider,
	ProviderCredentials,
} from './types';
import { readRateLimit } from '../rate-headers';

const TOOL_NAME = 'record_output';

/**
 * Anthropic messages. Structured output goes through a forced tool whose input schema is
 * the user's schema: the model must answer by "calling" it, and the tool input is the data.
 */
export function createAnthropicProvider(
	creds: ProviderCredentials,
	fetchImpl?: typeof fetch,
): Provider {
	const client = new Anthropic({
		apiKey: creds.apiKey,
		baseURL: creds.baseUrl || undefined,
		maxRetries: 0,
		fetch: fetchImpl ?? nodeHttpFetch,
	});

	return {
		name: 'anthropic',
		async complete(req: ChatRequest, opts: CallOptions): Promise<ChatResponse> {
			const messages: Anthropic.MessageParam[] = [{ role: 'user', content: req.prompt }];
			if (req.followUp) {
				messages.push({ role: 'assistant', content: req.followUp.answer });
				messages.push({ role: 'user', content: req.followUp.errors });
			}
			// Tools come before the system prompt in Anthropic's prefix order, so a breakpoint
			// on the system prompt caches the schema tool and the instructions together.
			const system: string | Anthropic.TextBlockParam[] | undefined =
				req.system && req.cache
					? [
							{
								type: 'text',
								text: req.system,
								cache_control:
									req.cache.ttl === '1h'
										? ({ type: 'ephemeral', ttl: '1h' } as Anthropic.CacheControlEphemeral)
										: { type: 'ephemeral' },
							},
						]
					: req.system || undefined;
			const body: Anthropic.MessageCreateParamsNonStreaming = {
				model: req.model,
				max_tokens: req.maxTokens,
				messages,
				...(system ? { system } : {}),
				...(req.temperature !== undefined ? { temperature: req.temperature } : {}),
				...(req.schema
					? {
							tools: [
								{
									name: TOOL_NAME,
									description: 'Record the answer in the required structure.',
									input_schema: req.schema as Anthropic.Tool.InputSchema,
								},
							],
							tool_choice: { type: 'tool', name: TOOL_NAME },
						}
					: {}),
			};
			const { data: res, response } = await client.messages
				.create(body, { signal: opts.signal, timeout: opts.timeoutMs })
				.withResponse();
			let text = '';
			let data: unknown;
			for (const block of res.content ?? []) {
				if (block.type === 'text') text += block.text;
				else if (block.type === 'tool_use' && block.name === TOOL_NAME) data = block.input;
			}
			if (data !== undefined && text === '') text = JSON.stringify(data);
			const stop = res.stop_reason ?? 'end_turn';
			return {
				text,
				data,
				finishReason:
					stop === 'max_tokens' ? 'length' : stop === 'refusal' ? 'content_filter' : stop,
				usage: anthropicUsage(res.usage),
				model: res.model ?? req.model,
				requestId: (res as { _request_id?: string | null })._request_id ?? undefined,
				rateLimit: readRateLimit(response.headers, Date.now()),
			};
		},
	};
}

/**
 * Anthropic's `input_tokens` excludes cache reads and writes; our `inputTokens` counts every
 * input token, with the cached and written parts carried separately.
 */
export function anthropicUsage(u: unknown): Usage {
	const x = (u ?? {}) as {
		input_tokens?: number | null;
		output_tokens?: number | null;
		cache_read_input_tokens?: number | null;
		cache_creation_input_tokens?: number | null;
		cache_creation?: { ephemeral_1h_input_tokens?: number | null } | null;
	};
	const read = x.cache_read_input_tokens ?? 0;
	const write = x.cache_creation_input_tokens ?? 0;
	const write1h = x.cache_creation?.ephemeral_1h_input_tokens ?? 0;
	return {
		inputTokens: (x.input_tokens ?? 0) + read + write,
		outputTokens: x.output_tokens ?? 0,
		...(read > 0 ? { cachedInputTokens: read } : {}),
		...(write > 0 ? { cacheWriteTokens: write } : {}),
		...(write1h > 0 ? { cacheWrite1hTokens: write1h } : {}),
	};
}
