/**
 * The request bodies LLM Batch Call sends and how their answers are read, as pure functions,
 * so the realtime providers and the batch APIs (core/batch-api) build the very same request
 * for a prompt and read the very same answer.
 */
import type Anthropic from '@anthropic-ai/sdk';
import type OpenAI from 'openai';

import { isOpenAiReasoningModel } from '../../models';
import type { ChatRequest, ChatResponse } from './types';

export const ANTHROPIC_TOOL_NAME = 'record_output';

/** The chat-completions body for one request (also the `body` of an OpenAI batch line). */
export function openAiChatBody(
	req: ChatRequest,
): OpenAI.Chat.ChatCompletionCreateParamsNonStreaming {
	const messages: OpenAI.Chat.ChatCompletionMessageParam[] = [];
	if (req.system) messages.push({ role: 'system', content: req.system });
	messages.push({ role: 'user', content: req.prompt });
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
	};
}

/** A chat completion (realtime answer or the `response.body` of a batch result line), normalised. */
export function readOpenAiChat(res: OpenAI.Chat.ChatCompletion, req: ChatRequest): ChatResponse {
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
}

/**
 * The messages params for one request (also the `params` of an Anthropic batch request).
 * Structured output goes through a forced tool whose input schema is the user's schema.
 */
export function anthropicMessageParams(
	req: ChatRequest,
): Anthropic.MessageCreateParamsNonStreaming {
	return {
		model: req.model,
		max_tokens: req.maxTokens,
		messages: [{ role: 'user', content: req.prompt }],
		...(req.system ? { system: req.system } : {}),
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
		usage: {
			inputTokens: res.usage?.input_tokens ?? 0,
			outputTokens: res.usage?.output_tokens ?? 0,
		},
		model: res.model ?? req.model,
		requestId: (res as { _request_id?: string | null })._request_id ?? undefined,
	};
}
