/**
 * The request bodies LLM Batch Call sends and how their answers are read, as pure functions,
 * so the realtime providers and the batch APIs (core/batch-api) build the very same request
 * for a prompt and read the very same answer.
 */
import type Anthropic from '@anthropic-ai/sdk';
import type OpenAI from 'openai';

import { isOpenAiReasoningModel } from '../../models';
import type { Usage } from '../../types';
import type { ChatRequest, ChatResponse } from './types';

export const ANTHROPIC_TOOL_NAME = 'record_output';

/** The chat-completions body for one request (also the `body` of an OpenAI batch line). */
export function openAiChatBody(
	req: ChatRequest,
): OpenAI.Chat.ChatCompletionCreateParamsNonStreaming {
	const messages: OpenAI.Chat.ChatCompletionMessageParam[] = [];
	if (req.system) messages.push({ role: 'system', content: req.system });
	messages.push({ role: 'user', content: req.prompt });
	if (req.followUp) {
		messages.push({ role: 'assistant', content: req.followUp.answer });
		messages.push({ role: 'user', content: req.followUp.errors });
	}
	const reasoning = isOpenAiReasoningModel(req.model);
	return {
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
		// `auto` is what OpenAI does without the field, and compatible servers may not know it.
		...(req.serviceTier && req.serviceTier !== 'auto' ? { service_tier: req.serviceTier } : {}),
	};
}

/** A chat completion (realtime answer or the `response.body` of a batch result line), normalised. */
export function readOpenAiChat(res: OpenAI.Chat.ChatCompletion, req: ChatRequest): ChatResponse {
	const choice = res.choices?.[0];
	const message = choice?.message;
	const refusal = message?.refusal || undefined;
	const tier = typeof res.service_tier === 'string' ? res.service_tier : undefined;
	return {
		text: message?.content ?? '',
		// A refusal comes with finish_reason "stop" and content null: it is a refusal.
		finishReason: refusal ? 'content_filter' : (choice?.finish_reason ?? 'stop'),
		refusal,
		usage: {
			inputTokens: res.usage?.prompt_tokens ?? 0,
			outputTokens: res.usage?.completion_tokens ?? 0,
			...(res.usage?.prompt_tokens_details?.cached_tokens
				? { cachedInputTokens: res.usage.prompt_tokens_details.cached_tokens }
				: {}),
			// Billed at the tier the answer reports, which is what is priced (the standard one
			// carries no mark: usage without a tier is priced at the standard price).
			...(tier && tier !== 'default' ? { serviceTier: tier } : {}),
		},
		model: res.model ?? req.model,
		requestId: (res as { _request_id?: string | null })._request_id ?? undefined,
		...(tier ? { serviceTier: tier } : {}),
	};
}

/**
 * The messages params for one request (also the `params` of an Anthropic batch request).
 * Structured output goes through a forced tool whose input schema is the user's schema.
 */
export function anthropicMessageParams(
	req: ChatRequest,
): Anthropic.MessageCreateParamsNonStreaming {
	const cacheControl: Anthropic.CacheControlEphemeral | undefined = req.cache
		? req.cache.ttl === '1h'
			? ({ type: 'ephemeral', ttl: '1h' } as Anthropic.CacheControlEphemeral)
			: { type: 'ephemeral' }
		: undefined;
	// A shared prompt prefix (the lines every item's prompt starts with) gets a breakpoint of
	// its own: the prompt goes as those lines and the rest, split at the line break between.
	const cut = req.cache?.promptPrefixChars ?? 0;
	const split = cacheControl && cut > 0 && req.prompt[cut] === '\n' && cut + 1 < req.prompt.length;
	const messages: Anthropic.MessageParam[] = [
		{
			role: 'user',
			content: split
				? [
						{ type: 'text', text: req.prompt.slice(0, cut), cache_control: cacheControl },
						{ type: 'text', text: req.prompt.slice(cut + 1) },
					]
				: req.prompt,
		},
	];
	if (req.followUp) {
		messages.push({ role: 'assistant', content: req.followUp.answer });
		messages.push({ role: 'user', content: req.followUp.errors });
	}
	// Tools come before the system prompt in Anthropic's prefix order, so a breakpoint
	// on the system prompt caches the schema tool and the instructions together.
	const system: string | Anthropic.TextBlockParam[] | undefined =
		req.system && cacheControl
			? [{ type: 'text', text: req.system, cache_control: cacheControl }]
			: req.system || undefined;
	return {
		model: req.model,
		max_tokens: req.maxTokens,
		messages,
		...(system ? { system } : {}),
		...(req.temperature !== undefined ? { temperature: req.temperature } : {}),
		...(req.schema
			? {
					tools: [
						{
							name: ANTHROPIC_TOOL_NAME,
							description: 'Record the answer in the required structure.',
							input_schema: req.schema as Anthropic.Tool.InputSchema,
						},
					],
					tool_choice: { type: 'tool', name: ANTHROPIC_TOOL_NAME },
				}
			: {}),
	};
}

/** A message (realtime answer or the `message` of a succeeded batch result), normalised. */
export function readAnthropicMessage(res: Anthropic.Message, req: ChatRequest): ChatResponse {
	let text = '';
	let data: unknown;
	for (const block of res.content ?? []) {
		if (block.type === 'text') text += block.text;
		else if (block.type === 'tool_use' && block.name === ANTHROPIC_TOOL_NAME) data = block.input;
	}
	if (data !== undefined && text === '') text = JSON.stringify(data);
	const stop = res.stop_reason ?? 'end_turn';
	return {
		text,
		data,
		finishReason: stop === 'max_tokens' ? 'length' : stop === 'refusal' ? 'content_filter' : stop,
		usage: anthropicUsage(res.usage),
		model: res.model ?? req.model,
		requestId: (res as { _request_id?: string | null })._request_id ?? undefined,
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
