/**
 * Gemini's native `generateContent` request body and how its answer is read, as pure
 * functions, so the realtime provider and the Gemini Batch API (core/batch-api) send the very
 * same request for a prompt and read the very same answer.
 *
 * Native rather than Gemini's OpenAI-compatible endpoint: the Batch API and inline document
 * parts exist only in the native API, and one provider module for realtime and batch keeps
 * one request body, one usage reading and one error mapping (the compatible endpoint would
 * need a second of each).
 */
import type { Usage } from '../../types';
import type { ChatRequest, ChatResponse } from './types';

/** One part of a Gemini `Content`: text, or a document/image as `inlineData` (base64). */
export type GeminiPart =
	| { text: string }
	| { inlineData: { mimeType: string; data: string } }
	| Record<string, unknown>;

export interface GeminiContent {
	role: 'user' | 'model';
	parts: GeminiPart[];
}

export interface GeminiRequest {
	contents: GeminiContent[];
	systemInstruction?: { parts: GeminiPart[] };
	generationConfig: Record<string, unknown>;
}

/**
 * The parts of a user message: the documents and images first (Gemini's guidance for a single
 * document with a question: the document before the text), then the prompt text. The one
 * place a user turn's parts are built — attachments add their `inlineData` parts here.
 */
export function geminiUserParts(text: string, parts: readonly GeminiPart[] = []): GeminiPart[] {
	return [...parts, { text }];
}

/** The `generateContent` body for one request (also the `request` of a Gemini batch line). */
export function geminiRequestBody(req: ChatRequest, parts?: readonly GeminiPart[]): GeminiRequest {
	const contents: GeminiContent[] = [{ role: 'user', parts: geminiUserParts(req.prompt, parts) }];
	if (req.followUp) {
		contents.push({ role: 'model', parts: [{ text: req.followUp.answer }] });
		contents.push({ role: 'user', parts: [{ text: req.followUp.errors }] });
	}
	return {
		contents,
		...(req.system ? { systemInstruction: { parts: [{ text: req.system }] } } : {}),
		generationConfig: {
			maxOutputTokens: req.maxTokens,
			...(req.temperature !== undefined ? { temperature: req.temperature } : {}),
			// `responseJsonSchema` takes JSON Schema as the node has it (`responseSchema` wants
			// Google's OpenAPI subset, which would need the schema translated).
			...(req.schema
				? { responseMimeType: 'application/json', responseJsonSchema: req.schema }
				: {}),
		},
	};
}

/** The finish reasons that mean the content was withheld by a policy. */
const FILTERED = new Set([
	'SAFETY',
	'RECITATION',
	'BLOCKLIST',
	'PROHIBITED_CONTENT',
	'SPII',
	'IMAGE_SAFETY',
]);

/** Gemini's finish reason in the runner's words (stop | length | content_filter | other). */
export function geminiFinishReason(reason: string | undefined): string {
	if (reason === undefined || reason === 'STOP' || reason === 'FINISH_REASON_UNSPECIFIED')
		return 'stop';
	if (reason === 'MAX_TOKENS') return 'length';
	if (FILTERED.has(reason)) return 'content_filter';
	return reason.toLowerCase();
}

interface GeminiAnswer {
	candidates?: Array<{
		content?: { parts?: Array<{ text?: string; thought?: boolean }> };
		finishReason?: string;
	}>;
	promptFeedback?: { blockReason?: string };
	usageMetadata?: unknown;
	modelVersion?: string;
	responseId?: string;
}

/** A `GenerateContentResponse` (realtime answer or a batch result's `response`), normalised. */
export function readGeminiResponse(res: unknown, req: Pick<ChatRequest, 'model'>): ChatResponse {
	const r = (res ?? {}) as GeminiAnswer;
	const candidate = r.candidates?.[0];
	let text = '';
	// Thought summaries are not the answer.
	for (const part of candidate?.content?.parts ?? [])
		if (!part.thought && typeof part.text === 'string') text += part.text;
	const blocked = r.promptFeedback?.blockReason;
	const finish = blocked ? 'content_filter' : geminiFinishReason(candidate?.finishReason);
	return {
		text,
		finishReason: finish,
		...(finish === 'content_filter'
			? {
					refusal: blocked
						? `The prompt was blocked (${blocked})`
						: `The answer was withheld (${candidate?.finishReason})`,
				}
			: {}),
		usage: geminiUsage(r.usageMetadata),
		model: req.model,
		...(typeof r.responseId === 'string' ? { requestId: r.responseId } : {}),
	};
}

/**
 * Gemini's `usageMetadata`: `promptTokenCount` counts every input token, cached ones included
 * (`cachedContentTokenCount` of them); thinking tokens (`thoughtsTokenCount`) are billed as
 * output, so they count as output here.
 */
export function geminiUsage(u: unknown): Usage {
	const x = (u ?? {}) as {
		promptTokenCount?: number;
		toolUsePromptTokenCount?: number;
		candidatesTokenCount?: number;
		thoughtsTokenCount?: number;
		cachedContentTokenCount?: number;
	};
	const cached = x.cachedContentTokenCount ?? 0;
	return {
		inputTokens: (x.promptTokenCount ?? 0) + (x.toolUsePromptTokenCount ?? 0),
		outputTokens: (x.candidatesTokenCount ?? 0) + (x.thoughtsTokenCount ?? 0),
		...(cached > 0 ? { cachedInputTokens: cached } : {}),
	};
}
