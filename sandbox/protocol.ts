/**
 * The two wire protocols the sandbox speaks: reading an OpenAI chat-completions or Anthropic
 * messages request, and writing answers and errors in the shapes the providers send (so the
 * official SDKs parse them and map statuses to their error classes).
 */
import type { JsonSchema } from './reply';

/** The API dialect a request speaks (the engine calls these providers). */
export type Dialect = 'openai' | 'anthropic';

/** What the sandbox needs from a request body, whichever provider it came for. */
export interface ParsedCall {
	model: string;
	/** Text of the last user message (text parts joined by '\n'). */
	prompt: string;
	/** Characters of all message text, system prompt included. */
	inputChars: number;
	maxTokens?: number;
	/** JSON Schema of a structured answer (response_format json_schema or a forced tool). */
	schema?: JsonSchema;
	jsonObject: boolean;
	/** Set when the answer is a forced tool / function call. */
	toolName?: string;
	/**
	 * A re-ask (the conversation goes on with the previous answer and a user message that
	 * starts with core/call/reask.ts `REASK_HEAD`): `prompt` is then the first user message,
	 * and the sandbox answers it correctly.
	 */
	reask?: boolean;
	/** The request's `temperature`, when it sent one. */
	temperature?: number;
}

/** How LLM Batch Call's re-ask turn starts (core/call/reask.ts `REASK_HEAD`). */
export const REASK_PREFIX = 'Invalid answer:';

export type ParseResult = { ok: true; call: ParsedCall } | { ok: false; message: string };

function contentText(content: unknown): string {
	if (typeof content === 'string') return content;
	if (!Array.isArray(content)) return '';
	let out = '';
	let first = true;
	for (const part of content) {
		if (part && typeof part === 'object' && typeof (part as { text?: unknown }).text === 'string') {
			out += (first ? '' : '\n') + (part as { text: string }).text;
			first = false;
		}
	}
	return out;
}

function readMessages(messages: unknown[]): { prompt: string; chars: number; reask: boolean } {
	let prompt = '';
	let first: string | undefined;
	let chars = 0;
	let assistant = false;
	for (const m of messages) {
		if (!m || typeof m !== 'object') continue;
		const text = contentText((m as { content?: unknown }).content);
		chars += text.length;
		const role = (m as { role?: unknown }).role;
		if (role === 'user') {
			prompt = text;
			first ??= text;
		} else if (role === 'assistant') assistant = true;
	}
	const reask = assistant && first !== undefined && prompt.startsWith(REASK_PREFIX);
	return { prompt: reask ? first! : prompt, chars, reask };
}

type Body = Record<string, unknown>;
const obj = (v: unknown): Body | undefined =>
	v && typeof v === 'object' && !Array.isArray(v) ? (v as Body) : undefined;

export function parseOpenAi(body: Body): ParseResult {
	if (typeof body.model !== 'string' || body.model === '')
		return { ok: false, message: 'you must provide a model parameter' };
	if (!Array.isArray(body.messages) || body.messages.length === 0) {
		return {
			ok: false,
			message: "Invalid 'messages': empty array. Expected an array with minimum length 1.",
		};
	}
	if (body.stream === true)
		return { ok: false, message: 'The sandbox does not implement stream=true.' };
	const { prompt, chars, reask } = readMessages(body.messages);
	const maxTokens =
		typeof body.max_completion_tokens === 'number'
			? body.max_completion_tokens
			: typeof body.max_tokens === 'number'
				? body.max_tokens
				: undefined;
	const call: ParsedCall = {
		model: body.model,
		prompt,
		inputChars: chars,
		maxTokens,
		jsonObject: false,
		reask,
		temperature: typeof body.temperature === 'number' ? body.temperature : undefined,
	};
	const rf = obj(body.response_format);
	if (rf?.type === 'json_schema')
		call.schema = (obj(obj(rf.json_schema)?.schema) ?? {}) as JsonSchema;
	else if (rf?.type === 'json_object') call.jsonObject = true;
	const tools = Array.isArray(body.tools) ? (body.tools as Body[]) : [];
	const choice = body.tool_choice;
	let toolName: string | undefined;
	if (obj(choice)?.type === 'function')
		toolName = obj(obj(choice)?.function)?.name as string | undefined;
	else if (choice === 'required' && tools.length === 1)
		toolName = obj(tools[0].function)?.name as string | undefined;
	if (toolName !== undefined) {
		const tool = tools.find((t) => obj(t.function)?.name === toolName);
		if (!tool)
			return {
				ok: false,
				message: `Invalid 'tool_choice': no function named '${toolName}' in 'tools'.`,
			};
		call.toolName = toolName;
		call.schema = (obj(obj(tool.function)?.parameters) ?? {
			type: 'object',
			properties: {},
		}) as JsonSchema;
	}
	return { ok: true, call };
}

export function parseAnthropic(body: Body): ParseResult {
	if (typeof body.model !== 'string' || body.model === '')
		return { ok: false, message: 'model: Field required' };
	if (typeof body.max_tokens !== 'number')
		return { ok: false, message: 'max_tokens: Field required' };
	if (!Array.isArray(body.messages) || body.messages.length === 0)
		return { ok: false, message: 'messages: at least one message is required' };
	if (body.stream === true)
		return { ok: false, message: 'The sandbox does not implement stream=true.' };
	const { prompt, chars, reask } = readMessages(body.messages);
	const call: ParsedCall = {
		model: body.model,
		prompt,
		inputChars: chars + contentText(body.system).length,
		maxTokens: body.max_tokens,
		jsonObject: false,
		reask,
		temperature: typeof body.temperature === 'number' ? body.temperature : undefined,
	};
	const tools = Array.isArray(body.tools) ? (body.tools as Body[]) : [];
	const choice = obj(body.tool_choice);
	let toolName: string | undefined;
	if (choice?.type === 'tool') toolName = choice.name as string | undefined;
	else if (choice?.type === 'any' && tools.length === 1)
		toolName = tools[0].name as string | undefined;
	if (toolName !== undefined) {
		const tool = tools.find((t) => t.name === toolName);
		if (!tool) return { ok: false, message: `tool_choice: tool '${toolName}' not found in tools` };
		call.toolName = toolName;
		call.schema = (obj(tool.input_schema) ?? { type: 'object', properties: {} }) as JsonSchema;
	} else {
		// Anthropic's structured outputs (`output_format: { type: 'json_schema', schema }`): JSON in a text block.
		const of = obj(body.output_format) ?? obj(obj(body.output_config)?.format);
		if (of?.type === 'json_schema') call.schema = (obj(of.schema) ?? {}) as JsonSchema;
	}
	return { ok: true, call };
}

/** Error kinds the sandbox answers, mapped to each provider's status and body. */
export type ErrorKind =
	| 'invalid_request'
	| 'auth'
	| 'not_found'
	| 'rate_limit'
	| 'quota'
	| 'server'
	| 'unavailable'
	| 'overloaded'
	| 'too_large';

export function errorAnswer(
	provider: Dialect,
	kind: ErrorKind,
	message: string,
	requestId: string,
	rateType: 'requests' | 'tokens' = 'requests',
	/** OpenAI `error.code` for a 404 (e.g. `model_not_found`). */
	code?: string,
): { status: number; body: string } {
	if (provider === 'openai') {
		const e = (status: number, type: string, code: string | null) => ({
			status,
			body: JSON.stringify({ error: { message, type, param: null, code } }),
		});
		switch (kind) {
			case 'invalid_request':
				return e(400, 'invalid_request_error', null);
			case 'too_large':
				return e(413, 'invalid_request_error', null);
			case 'auth':
				return e(401, 'invalid_request_error', 'invalid_api_key');
			case 'not_found':
				return e(404, 'invalid_request_error', code ?? 'not_found');
			case 'rate_limit':
				return e(429, rateType, 'rate_limit_exceeded');
			case 'quota':
				return e(429, 'insufficient_quota', 'insufficient_quota');
			case 'server':
				return e(500, 'server_error', null);
			default:
				// OpenAI has no 529: overload is a 503.
				return e(503, 'server_error', null);
		}
	}
	const a = (status: number, type: string) => ({
		status,
		body: JSON.stringify({ type: 'error', error: { type, message }, request_id: requestId }),
	});
	switch (kind) {
		case 'invalid_request':
			return a(400, 'invalid_request_error');
		// Anthropic reports an empty credit balance as a 400 invalid_request_error (see
		// anthropics/anthropic-sdk-typescript#618), not as a 429.
		case 'quota':
			return a(400, 'invalid_request_error');
		case 'too_large':
			return a(413, 'request_too_large');
		case 'auth':
			return a(401, 'authentication_error');
		case 'not_found':
			return a(404, 'not_found_error');
		case 'rate_limit':
			return a(429, 'rate_limit_error');
		case 'server':
			return a(500, 'api_error');
		case 'unavailable':
			return a(503, 'api_error');
		default:
			return a(529, 'overloaded_error');
	}
}

export const MESSAGES = {
	quotaOpenAi:
		'You exceeded your current quota, please check your plan and billing details. For more information on this error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors.',
	quotaAnthropic:
		'Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing to upgrade or purchase credits.',
	authOpenAi:
		'Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys.',
	authAnthropic: 'invalid x-api-key',
	server: 'The server had an error while processing your request. Sorry about that!',
	unavailable: 'The engine is currently overloaded, please try again later.',
	overloaded: 'Overloaded',
	refusal: "I'm sorry, but I can't help with that request.",
} as const;

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
		service_tier: 'default',
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

export const MODELS = [
	'gpt-4o-mini',
	'gpt-4o',
	'gpt-4.1-mini',
	'gpt-4.1-nano',
	'claude-3-5-haiku-latest',
	'claude-haiku-4-5',
	'claude-sonnet-4-5',
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
