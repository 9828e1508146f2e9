import Anthropic from '@anthropic-ai/sdk';

import { emptyBody } from '../errors';
import { nodeHttpFetch } from './http-fetch';
import type {
	CallOptions,
	ChatRequest,
	ChatResponse,
	Provider,
	ProviderCredentials,
} from './types';

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
			const body: Anthropic.MessageCreateParamsNonStreaming = {
				model: req.model,
				max_tokens: req.maxTokens,
				messages: [{ role: 'user', content: req.prompt }],
				...(req.system ? { system: req.system } : {}),
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
			const res = await client.messages.create(body, {
				signal: opts.signal,
				timeout: opts.timeoutMs,
			});
			if (!res || typeof res !== 'object') throw emptyBody('anthropic');
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
				usage: {
					inputTokens: res.usage?.input_tokens ?? 0,
					outputTokens: res.usage?.output_tokens ?? 0,
				},
				model: res.model ?? req.model,
				requestId: (res as { _request_id?: string | null })._request_id ?? undefined,
			};
		},
	};
}
