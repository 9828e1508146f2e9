/**
 * The three wire protocols the sandbox speaks, the reading side: an OpenAI chat-completions,
 * Anthropic messages or Gemini generateContent request, down to what the sandbox needs from it. The answers are written
 * by protocol-answers.ts, the errors by protocol-errors.ts.
 */
import { documentsText, readDocuments, type SandboxDocument } from './documents';
import type { JsonSchema } from './reply';

/** The API dialect a request speaks (the engine calls these providers). */
export type Dialect = 'openai' | 'anthropic' | 'gemini';

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
	/** OpenAI's `service_tier`, when the request sent one. */
	serviceTier?: string;
	/**
	 * The files the request carries (sandbox/documents.ts); their text is appended to `prompt`,
	 * so the answer (and its digest) is its document's.
	 */
	documents?: SandboxDocument[];
}

/** The request's input tokens: its text, and its files as billed. */
export function callInputTokens(
	call: ParsedCall,
	tokensForText: (chars: number) => number,
): number {
	let files = 0;
	for (const d of call.documents ?? []) files += d.tokens;
	return tokensForText(call.inputChars) + files;
}

/** The files of the messages read into the call; a file the provider would refuse is the message. */
function withDocuments(call: ParsedCall, messages: unknown[], dialect: Dialect): ParseResult {
	const read = readDocuments(messages, dialect, call.model);
	if (!read.ok) return { ok: false, message: read.message };
	if (read.documents.length === 0) return { ok: true, call };
	return {
		ok: true,
		call: {
			...call,
			prompt: `${call.prompt}\n${documentsText(read.documents)}`,
			documents: read.documents,
		},
	};
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
		...(typeof body.service_tier === 'string' ? { serviceTier: body.service_tier } : {}),
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
	return withDocuments(call, body.messages, 'openai');
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
	return withDocuments(call, body.messages as unknown[], 'anthropic');
}

/** Gemini's `contents` as role + text messages (the `model` role is the assistant's). */
function geminiMessages(contents: unknown[]): Array<{ role: string; content: unknown }> {
	return contents.map((c) => {
		const o = obj(c) ?? {};
		return { role: o.role === 'model' ? 'assistant' : 'user', content: o.parts };
	});
}

/** A Gemini `generateContent` body; the model comes from the path (`models/{model}:generateContent`). */
export function parseGemini(body: Body, model: string): ParseResult {
	if (!Array.isArray(body.contents) || body.contents.length === 0)
		return { ok: false, message: '* GenerateContentRequest.contents: contents is not specified' };
	const { prompt, chars, reask } = readMessages(geminiMessages(body.contents));
	const config = obj(body.generationConfig) ?? {};
	const system = contentText(obj(body.systemInstruction)?.parts);
	const call: ParsedCall = {
		model,
		prompt,
		inputChars: chars + system.length,
		maxTokens: typeof config.maxOutputTokens === 'number' ? config.maxOutputTokens : undefined,
		jsonObject: false,
		reask,
		temperature: typeof config.temperature === 'number' ? config.temperature : undefined,
	};
	const schema = obj(config.responseJsonSchema) ?? obj(config.responseSchema);
	if (schema) {
		call.schema = schema as JsonSchema;
		// Gemini counts the response schema as input.
		call.inputChars += JSON.stringify(schema).length;
	} else if (config.responseMimeType === 'application/json') call.jsonObject = true;
	return withDocuments(call, body.contents as unknown[], 'gemini');
}
