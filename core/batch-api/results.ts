/**
 * Result lines of both batch APIs -> a normalised answer, or the line's error in the
 * taxonomy. Pure: the adapters in ./providers read the stream and call these per line.
 */
import { classifyError } from '../call/classify';
import { geminiError } from '../call/providers/gemini-errors';
import type { ChatResponse } from '../call/providers/types';
import type { ItemError, ProviderName } from '../types';
import type { BatchResultLine } from './types';

/** What the batch did not do: the record can go again (a new batch, or realtime). */
export function notDoneError(
	code: 'expired' | 'canceled',
	provider: ProviderName,
	detail?: string,
): ItemError {
	return {
		code,
		message:
			code === 'expired'
				? `The batch ended before this request was processed${detail ? ` (${detail})` : ''}: resubmit it or send it through LLM Batch Call`
				: `The batch was canceled before this request was processed${detail ? ` (${detail})` : ''}: resubmit it or send it through LLM Batch Call`,
		retryable: true,
		attempts: 1,
		provider,
	};
}

function lineError(provider: ProviderName, e: unknown, status?: number): ItemError {
	const err = classifyError(e, provider, 0).toItemError(1);
	if (status !== undefined) err.status = status;
	return err;
}

/**
 * The custom_id a broken line still shows, if any (a line cut off or garbled after it):
 * OpenAI's and Anthropic's `custom_id`, Gemini's `key`.
 */
function customIdIn(line: string): string | undefined {
	return /"(?:custom_id|key)"\s*:\s*"([a-zA-Z0-9_-]{1,64})"/.exec(line)?.[1];
}

/**
 * A result line that cannot be read: classified as a realtime body that is not JSON is (the
 * provider's fault, retryable) — not `expired`: the provider processed and billed the request,
 * its answer is lost. Only its own record fails, when the line still shows its custom_id;
 * otherwise it counts as unreadable (`customId` ''), and the records without a line get the
 * no-line rule.
 */
function unreadableLine(
	provider: ProviderName,
	line: string,
	why: string,
	where: string | undefined,
	customId = customIdIn(line),
): BatchResultLine {
	const err = classifyError(new SyntaxError(why), provider, 0).toItemError(1);
	err.message = `The result line${where ? ` (${where})` : ''} could not be read (${why}): the provider processed this request and probably billed it, but its answer is lost; resubmit it or send it through LLM Batch Call. The line begins: ${line.slice(0, 160)}`;
	return { customId: customId ?? '', ok: false, error: err };
}

type Json = Record<string, unknown>;
const obj = (v: unknown): Json | undefined =>
	v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : undefined;

/**
 * One line of an OpenAI output or error file:
 * `{custom_id, response: {status_code, request_id, body} | null, error: {code, message} | null}`.
 * `read` turns a 200 body into the normalised answer (the same reader as LLM Batch Call).
 */
export function readOpenAiResultLine(
	line: string,
	read: (body: Json) => ChatResponse,
	/** Where the line is (e.g. `output file line 12`), for the message of a line that cannot be read. */
	where?: string,
): BatchResultLine {
	let parsed: Json | undefined;
	try {
		parsed = obj(JSON.parse(line));
	} catch (e) {
		return unreadableLine(
			'openai',
			line,
			`not valid JSON, cut off? ${(e as Error).message}`,
			where,
		);
	}
	if (!parsed || typeof parsed.custom_id !== 'string')
		return unreadableLine('openai', line, 'no custom_id', where, '');
	const customId = parsed.custom_id;
	const response = obj(parsed.response);
	const error = obj(parsed.error);
	const requestId = typeof response?.request_id === 'string' ? response.request_id : undefined;
	if (error) {
		const code = String(error.code ?? '');
		const message = String(error.message ?? code);
		if (code === 'batch_expired')
			return { customId, ok: false, error: notDoneError('expired', 'openai', message) };
		if (code === 'batch_cancelled' || code === 'batch_canceled')
			return { customId, ok: false, error: notDoneError('canceled', 'openai', message) };
		return { customId, ok: false, error: lineError('openai', { status: 500, message, code }) };
	}
	if (!response)
		return unreadableLine('openai', line, 'neither response nor error', where, customId);
	const status = Number(response.status_code);
	const body = obj(response.body);
	if (status >= 200 && status < 300 && body) {
		const answer = read(body);
		// The reader's own fresh object: completed in place rather than copied (one per line).
		answer.requestId ??= requestId;
		return { customId, ok: true, response: answer };
	}
	const apiError = obj(body?.error);
	const err = lineError(
		'openai',
		{
			status,
			message: String(apiError?.message ?? `status ${status}`),
			code: apiError?.code,
			type: apiError?.type,
			error: apiError,
			request_id: requestId,
		},
		status,
	);
	return { customId, ok: false, error: err };
}

/** Anthropic `type` of an errored result's error -> an HTTP status, for the shared classifier. */
const ANTHROPIC_STATUS: Record<string, number> = {
	invalid_request_error: 400,
	authentication_error: 401,
	billing_error: 402,
	permission_error: 403,
	not_found_error: 404,
	rate_limit_error: 429,
	timeout_error: 504,
	api_error: 500,
	overloaded_error: 529,
};

/** A result line as text (for messages) and as parsed JSON, or the unreadable line it is. */
function parsedLine(
	provider: ProviderName,
	entry: unknown,
	why: string,
	where: string | undefined,
): { text: string; parsed: Json | undefined } | { unreadable: BatchResultLine } {
	const text = typeof entry === 'string' ? entry : (JSON.stringify(entry) ?? '');
	try {
		return { text, parsed: obj(typeof entry === 'string' ? JSON.parse(entry) : entry) };
	} catch (e) {
		return { unreadable: unreadableLine(provider, text, `${why} ${(e as Error).message}`, where) };
	}
}

/**
 * One line of Anthropic batch results: `{custom_id, result: {type: succeeded | errored |
 * canceled | expired, …}}`.
 */
export function readAnthropicResultLine(
	/** The line's text, or its parsed JSON. */
	entry: unknown,
	read: (message: Json) => ChatResponse,
	where?: string,
): BatchResultLine {
	const line = parsedLine('anthropic', entry, 'not valid JSON:', where);
	if ('unreadable' in line) return line.unreadable;
	const { text, parsed } = line;
	if (!parsed || typeof parsed.custom_id !== 'string')
		return unreadableLine('anthropic', text, 'no custom_id', where, '');
	const customId = parsed.custom_id;
	const result = obj(parsed.result);
	switch (result?.type) {
		case 'succeeded': {
			const message = obj(result.message);
			if (!message) return unreadableLine('anthropic', text, 'no message', where, customId);
			return { customId, ok: true, response: read(message) };
		}
		case 'canceled':
			return { customId, ok: false, error: notDoneError('canceled', 'anthropic') };
		case 'expired':
			return { customId, ok: false, error: notDoneError('expired', 'anthropic') };
		case 'errored': {
			const response = obj(result.error);
			const inner = obj(response?.error);
			const type = String(inner?.type ?? 'api_error');
			const status = ANTHROPIC_STATUS[type] ?? 500;
			return {
				customId,
				ok: false,
				error: lineError(
					'anthropic',
					{
						status,
						message: String(inner?.message ?? type),
						type,
						error: response,
						request_id: typeof response?.request_id === 'string' ? response.request_id : undefined,
					},
					status,
				),
			};
		}
		default:
			return unreadableLine('anthropic', text, 'unknown result type', where, customId);
	}
}

/**
 * One Gemini batch result: a line of the responses file, `{key, response | error}`, or an
 * inlined response, `{metadata: {key}, response | error}` (the key is the request's custom_id,
 * never its position: inlined responses are not promised in input order). `error` is a
 * google.rpc.Status, classified like a realtime Gemini error.
 */
export function readGeminiResultLine(
	/** The line's text, or an inlined response object. */
	entry: unknown,
	read: (response: Json) => ChatResponse,
	where?: string,
): BatchResultLine {
	const line = parsedLine('gemini', entry, 'not valid JSON, cut off?', where);
	if ('unreadable' in line) return line.unreadable;
	const { text, parsed } = line;
	const key = parsed?.key ?? obj(parsed?.metadata)?.key;
	if (!parsed || typeof key !== 'string')
		return unreadableLine('gemini', text, 'no key', where, '');
	const response = obj(parsed.response);
	const error = obj(parsed.error);
	if (error) {
		const status = typeof error.code === 'number' ? error.code : 500;
		const err = geminiError(status, { error }, undefined, 0).toItemError(1);
		err.status = status;
		return { customId: key, ok: false, error: err };
	}
	if (!response) return unreadableLine('gemini', text, 'neither response nor error', where, key);
	return { customId: key, ok: true, response: read(response) };
}
