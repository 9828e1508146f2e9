/**
 * Answers in the shapes the providers send (an OpenAI chat completion, an Anthropic message,
 * with usage and cache counts) and the model list both SDKs read.
 */
import { MESSAGES } from './protocol-errors';

type Body = Record<string, unknown>;

export interface AnswerParts {
	id: string;
	model: string;
	created: number;
	/** Reply text, or the JSON text of a tool call's input. */
	text: string;
	toolName?: string;
	toolInput?: unknown;
	finish: 'stop' | 'length' | 'content_filter';
	inputTokens: number;
	outputTokens: number;
	/** Of `inputTokens`: read from / written to the prompt cache (sandbox/cache.ts). */
	cache?: { read: number; write: number; write1h: number };
	/** The tier that served the request (OpenAI `service_tier`). @default 'default' */
	serviceTier?: string;
}

export function openAiCompletion(p: AnswerParts): string {
	const finishReason = p.finish === 'stop' && p.toolName !== undefined ? 'tool_calls' : p.finish;
	const message: Body = { role: 'assistant', content: p.text, refusal: null, annotations: [] };
	if (p.finish === 'content_filter') {
		message.content = null;
		message.refusal = MESSAGES.refusal;
	} else if (p.toolName !== undefined) {
		message.content = null;
		message.tool_calls = [
			{ id: `call_${p.id}`, type: 'function', function: { name: p.toolName, arguments: p.text } },
		];
	}
	return JSON.stringify({
		id: `chatcmpl-${p.id}`,
		object: 'chat.completion',
		created: p.created,
		model: p.model,
		choices: [{ index: 0, message, logprobs: null, finish_reason: finishReason }],
		usage: {
			prompt_tokens: p.inputTokens,
			completion_tokens: p.outputTokens,
			total_tokens: p.inputTokens + p.outputTokens,
			prompt_tokens_details: { cached_tokens: p.cache?.read ?? 0 },
			completion_tokens_details: { reasoning_tokens: 0 },
		},
		service_tier: p.serviceTier ?? 'default',
		system_fingerprint: 'fp_sandbox',
	});
}

export function anthropicMessage(p: AnswerParts): string {
	let content: Body[];
	let stopReason: string;
	if (p.finish === 'content_filter') {
		content = [];
		stopReason = 'refusal';
	} else if (p.toolName !== undefined) {
		// A cut tool call has no parseable input; the API then gives what it could parse.
		content = [
			{
				type: 'tool_use',
				id: `toolu_${p.id}`,
				name: p.toolName,
				input: p.finish === 'length' ? {} : p.toolInput,
			},
		];
		stopReason = p.finish === 'length' ? 'max_tokens' : 'tool_use';
	} else {
		content = [{ type: 'text', text: p.text }];
		stopReason = p.finish === 'length' ? 'max_tokens' : 'end_turn';
	}
	return JSON.stringify({
		id: `msg_${p.id}`,
		type: 'message',
		role: 'assistant',
		model: p.model,
		content,
		stop_reason: stopReason,
		stop_sequence: null,
		usage: {
			input_tokens: p.inputTokens - (p.cache?.read ?? 0) - (p.cache?.write ?? 0),
			output_tokens: p.outputTokens,
			cache_creation_input_tokens: p.cache?.write ?? 0,
			cache_read_input_tokens: p.cache?.read ?? 0,
			cache_creation: {
				ephemeral_5m_input_tokens: (p.cache?.write ?? 0) - (p.cache?.write1h ?? 0),
				ephemeral_1h_input_tokens: p.cache?.write1h ?? 0,
			},
		},
		created: p.created,
	});
}

/**
 * A Gemini `GenerateContentResponse`. A refusal is a candidate stopped for SAFETY with no
 * content, as Gemini withholds a blocked answer.
 */
export function geminiResponse(p: AnswerParts): string {
	const finishReason =
		p.finish === 'content_filter' ? 'SAFETY' : p.finish === 'length' ? 'MAX_TOKENS' : 'STOP';
	const candidate: Body = { finishReason, index: 0 };
	if (p.finish !== 'content_filter')
		candidate.content = { role: 'model', parts: [{ text: p.text }] };
	return JSON.stringify(geminiResponseObject(p, candidate));
}

/** The response object (a batch result line carries it as `response`). */
export function geminiResponseObject(p: AnswerParts, candidate: Body): Body {
	return {
		candidates: [candidate],
		usageMetadata: {
			promptTokenCount: p.inputTokens,
			candidatesTokenCount: p.outputTokens,
			totalTokenCount: p.inputTokens + p.outputTokens,
			...(p.cache?.read ? { cachedContentTokenCount: p.cache.read } : {}),
		},
		modelVersion: p.model,
		responseId: `resp_${p.id}`,
	};
}

export const MODELS = [
	'gpt-4o-mini',
	'gpt-4o',
	'gpt-4.1-mini',
	'gpt-4.1-nano',
	'claude-3-5-haiku-latest',
	'claude-haiku-4-5',
	'claude-sonnet-4-5',
	'gemini-2.5-flash',
	'gemini-2.5-flash-lite',
	'gemini-2.5-pro',
	'sandbox',
];

/** One list shape both SDKs accept (OpenAI `object: list`, Anthropic `has_more` / `first_id`). */
export function modelList(created: number): string {
	const data = MODELS.map((id) => modelEntry(id, created));
	return JSON.stringify({
		object: 'list',
		data,
		has_more: false,
		first_id: MODELS[0],
		last_id: MODELS[MODELS.length - 1],
	});
}

/** Gemini's model list (`GET /v1beta/models`), what its credential test reads. */
export function geminiModelList(): string {
	return JSON.stringify({
		models: MODELS.map((id) => ({
			name: `models/${id}`,
			displayName: id,
			supportedGenerationMethods: ['generateContent', 'batchGenerateContent'],
		})),
	});
}

export function modelEntry(id: string, created: number): Body {
	return {
		id,
		object: 'model',
		type: 'model',
		created,
		created_at: new Date(created * 1000).toISOString(),
		owned_by: 'sandbox',
		display_name: id,
	};
}
