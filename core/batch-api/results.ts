/**
 * Result lines of both batch APIs -> a normalised answer, or the line's error in the
 * taxonomy. Pure: the adapters in ./providers read the stream and call these per line.
 */
import { classifyError } from '../call/errors';
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

function malformedLine(provider: ProviderName, line: string, why: string): BatchResultLine {
	return {
		customId: '',
		ok: false,
		error: {
			code: 'malformed_output',
			message: `A result line could not be read (${why}): ${line.slice(0, 200)}`,
			retryable: false,
			attempts: 1,
			provider,
		},
	};
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
): BatchResultLine {
	let parsed: Json | undefined;
	try {
		parsed = obj(JSON.parse(line));
	} catch (e) {
		return malformedLine('openai', line, (e as Error).message);
	}
	if (!parsed || typeof parsed.custom_id !== 'string')
		return malformedLine('openai', line, 'no custom_id');
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
	if (!response) return malformedLine('openai', line, 'neither response nor error');
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

/**
 * One line of Anthropic batch results: `{custom_id, result: {type: succeeded | errored |
 * canceled | expired, …}}`.
 */
export function readAnthropicResultLine(
	entry: unknown,
	read: (message: Json) => ChatResponse,
): BatchResultLine {
	const parsed = obj(entry);
	if (!parsed || typeof parsed.custom_id !== 'string')
		return malformedLine('anthropic', JSON.stringify(entry) ?? '', 'no custom_id');
	const customId = parsed.custom_id;
	const result = obj(parsed.result);
	switch (result?.type) {
		case 'succeeded': {
			const message = obj(result.message);
			if (!message) return malformedLine('anthropic', JSON.stringify(entry), 'no message');
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
			return malformedLine('anthropic', JSON.stringify(entry) ?? '', 'unknown result type');
	}
}
