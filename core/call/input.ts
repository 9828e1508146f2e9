import { answerIdentity, callHash, inputHash } from '../identity';
import { attachmentsDigest, checkAttachments, type AttachedFile } from './attachments';
import { filesTokens } from '../documents-tokens';
import { cachePlanner } from './cache';
import { contextWindow } from '../models';
import type { ChatRequest } from './providers/types';
import type { RunItem } from './types';
import { countTokens, estimateTokens, jsonSchemaTokens } from '../tokens';
import type { Issue, ItemError, ProviderName, Usage } from '../types';
import { reaskAnswer, reaskMessage } from './reask';

/** What LLM Batch Call sends for every item; per-item values come from `fromItem`. */
export interface CallShape {
	provider: ProviderName;
	/** Where answers come from (`answerScope`: provider, endpoint, credential fingerprint). */
	scope: string;
	model: string;
	schema?: Record<string, unknown>;
	maxTokens: number;
	temperature?: number;
	/** 0 = the model's known window. */
	contextWindow: number;
	/** Prompt caching: mark the stable prefix when it is long enough (core/call/cache.ts). */
	cacheTtl?: '5m' | '1h';
}

function invalidInput(message: string): ItemError {
	return { code: 'invalid_input', message, retryable: false, attempts: 0 };
}

/**
 * Checks one item's prompt and turns it into a run item, or into the per-item error that
 * names the field and the fix. Built once per node run (`inputPolicy(shape)`), applied per item.
 */
export function inputPolicy(shape: CallShape) {
	const windowTokens = contextWindow(shape.model, shape.contextWindow);
	const schemaTokens = shape.schema ? jsonSchemaTokens(shape.schema) : 0;
	const planCache = shape.cacheTtl
		? cachePlanner({ ...shape, ttl: shape.cacheTtl, schemaTokens })
		: undefined;

	return (
		index: number,
		raw: {
			prompt: unknown;
			system: unknown;
			recordId: unknown;
			/** The item's files (Attachments), or why one cannot be sent. */
			attachments?: AttachedFile[] | { error: string };
		},
	): RunItem | ItemError => {
		const { prompt, system, recordId } = raw;
		const files = filesOf(shape, raw.attachments);
		if (typeof files === 'string') return invalidInput(files);
		if (typeof prompt !== 'string' || prompt.trim() === '') return promptError(prompt);
		const systemText = typeof system === 'string' ? system : String(system ?? '');
		const text = systemText ? `${systemText}\n${prompt}` : prompt;
		// The limiter's charge: an estimate (providers count the output schema as input too)
		// that the reported usage corrects after the call.
		const fileTokens = filesTokens(shape.provider, files, shape.model);
		const inputTokens = estimateTokens(text) + schemaTokens + 8 + fileTokens;
		const overflow = windowOverflow(
			shape,
			windowTokens,
			text,
			schemaTokens + fileTokens,
			fileTokens,
		);
		if (overflow) return overflow;
		const request: ChatRequest = {
			model: shape.model,
			system: systemText || undefined,
			prompt,
			schema: shape.schema,
			maxTokens: shape.maxTokens,
			temperature: shape.temperature,
			...(files ? { attachments: files } : {}),
		};
		const call = {
			provider: shape.provider,
			...request,
			attachments: attachmentsDigest(files),
		};
		const hash = answerIdentity(shape.scope, call);
		// After the hash: caching changes the price of an answer, not the answer.
		const cache = planCache?.(systemText);
		if (cache) request.cache = cache.marker;
		return {
			index,
			recordId: recordIdOf(recordId, call),
			request,
			inputTokens,
			promptHash: hash,
			inputHash: inputHash(systemText, prompt),
			...(cache ? { cachePrefixTokens: cache.prefixTokens } : {}),
		};
	};
}

/** A Prompt that is not text, or empty: the item's error, naming the fix. */
function promptError(prompt: unknown): ItemError {
	if (typeof prompt !== 'string')
		return invalidInput(
			`Prompt resolved to ${prompt === null ? 'null' : typeof prompt}, not text: build the Prompt expression so it returns a string (e.g. {{ JSON.stringify($json.data) }})`,
		);
	return invalidInput(
		'Prompt is empty for this item: check that the fields the Prompt expression reads exist on the item',
	);
}

/**
 * A prompt that cannot fit the model's context window with its max tokens. A BPE token is at
 * least one UTF-8 byte, so only prompts whose byte length could overflow the window pay for an
 * exact count (the tokenizer's tables cost ~40 MB; the count is chunked, so linear in the
 * prompt's length).
 */
function windowOverflow(
	shape: CallShape,
	windowTokens: number,
	text: string,
	extraTokens: number,
	fileTokens: number,
): ItemError | undefined {
	if (Buffer.byteLength(text) + extraTokens + shape.maxTokens <= windowTokens) return undefined;
	const exact = countTokens(text, shape.model) + extraTokens + 8;
	if (exact + shape.maxTokens <= windowTokens) return undefined;
	const files = fileTokens > 0 ? ` (${fileTokens} of them the attachments)` : '';
	const message = `Prompt is too long for ${shape.model}: about ${exact} tokens${files} + ${shape.maxTokens} max tokens > context window ${windowTokens}. Shorten the text or split it (Batch Prepare can check text length).`;
	// Marked so a fallback model with a larger window can take the item.
	return { ...invalidInput(message), issues: [{ path: 'prompt', message, code: CONTEXT_WINDOW }] };
}

/** The item's Record ID, else one from the call alone: a record's ID must not change with the endpoint. */
function recordIdOf(recordId: unknown, call: Parameters<typeof callHash>[0]): string {
	const id =
		typeof recordId === 'number'
			? String(recordId)
			: typeof recordId === 'string'
				? recordId.trim()
				: '';
	return id !== '' ? id : `h:${callHash(call).slice(0, 16)}`;
}

/** The item's files checked against the provider's limits: the files, none, or the message naming the file. */
function filesOf(
	shape: CallShape,
	attachments: AttachedFile[] | { error: string } | undefined,
): AttachedFile[] | undefined | string {
	if (!attachments) return undefined;
	if (!Array.isArray(attachments)) return attachments.error;
	if (attachments.length === 0) return undefined;
	return checkAttachments(shape.provider, shape.model, attachments) ?? attachments;
}

/** Issue code of a prompt over the model's context window. */
export const CONTEXT_WINDOW = 'context_window';

export function isItemError(v: RunItem | ItemError): v is ItemError {
	return (v as ItemError).code !== undefined;
}

/**
 * An item that comes back from Validate Output's Invalid output, or LLM Batch Call's own
 * Failed output, with the previous answer and what was wrong with it: the next request is a
 * re-ask turn, and the earlier attempts (and usage, when known) stay on the record.
 * Undefined for any other item.
 */
export function reaskFromItem(
	json: Record<string, unknown>,
	resultField: string,
): { followUp: { answer: string; errors: string }; attempts: number; usage?: Usage } | undefined {
	const error = json.error as
		| {
				code?: unknown;
				message?: unknown;
				issues?: unknown;
				answer?: unknown;
				attempts?: unknown;
				usage?: Usage;
		  }
		| undefined;
	if (!error || (error.code !== 'schema_violation' && error.code !== 'malformed_output'))
		return undefined;
	const previous = json[resultField] as
		| { text?: unknown; attempts?: unknown; usage?: Usage }
		| undefined;
	// Validate Output keeps the result; the Failed output keeps the answer on the error.
	const answer =
		typeof previous?.text === 'string' && previous.text !== ''
			? previous.text
			: typeof error.answer === 'string'
				? error.answer
				: '';
	if (answer === '') return undefined;
	const issues = Array.isArray(error.issues) ? (error.issues as Issue[]) : undefined;
	const attempts =
		typeof previous?.attempts === 'number'
			? previous.attempts
			: typeof error.attempts === 'number'
				? error.attempts
				: 0;
	return {
		followUp: {
			answer: reaskAnswer(answer),
			errors: reaskMessage({ code: error.code, message: String(error.message ?? ''), issues }),
		},
		attempts,
		// Validate Output keeps the result's usage; the Failed output the paid usage on the error.
		usage:
			previous?.usage && typeof previous.usage.inputTokens === 'number'
				? previous.usage
				: error.usage && typeof error.usage.inputTokens === 'number'
					? error.usage
					: undefined,
	};
}

/**
 * The run items, each one looped back with an invalid answer (`reaskFromItem`) starting as a
 * re-ask turn, its earlier attempts and usage kept; `jsonOf(index)` is the input item's JSON.
 */
export function withWorkflowReasks(
	items: RunItem[],
	jsonOf: (index: number) => Record<string, unknown>,
	resultField: string,
): RunItem[] {
	return items.map((item) => {
		const reask = reaskFromItem(jsonOf(item.index), resultField);
		if (!reask) return item;
		const request = { ...item.request, followUp: reask.followUp };
		return { ...item, request, priorAttempts: reask.attempts, priorUsage: reask.usage };
	});
}
