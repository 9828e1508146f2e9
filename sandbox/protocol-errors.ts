/**
 * Errors in the shapes the providers send, so the official SDKs map each status to their
 * error class, and the providers' own wording of the common ones.
 */
import type { Dialect } from './protocol';

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
	| 'too_large'
	// OpenAI Flex: no capacity for the request right now (not billed).
	| 'resource_unavailable';

export function errorAnswer(
	provider: Dialect,
	kind: ErrorKind,
	message: string,
	requestId: string,
	rateType: 'requests' | 'tokens' = 'requests',
	/** OpenAI `error.code` for a 404 (e.g. `model_not_found`). */
	code?: string,
	/** Gemini: the wait of a 429, sent as google.rpc.RetryInfo (Gemini sends no Retry-After). */
	retryAfterMs?: number,
): { status: number; body: string } {
	if (provider === 'gemini') return geminiErrorAnswer(kind, message, retryAfterMs);
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
			case 'resource_unavailable':
				return e(429, 'resource_unavailable', 'resource_unavailable');
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

/** Gemini's google.rpc.Status error body, with the details its clients read. */
function geminiErrorAnswer(
	kind: ErrorKind,
	message: string,
	retryAfterMs: number | undefined,
): { status: number; body: string } {
	const g = (status: number, word: string, details?: unknown[]) => ({
		status,
		body: JSON.stringify({
			error: { code: status, message, status: word, ...(details ? { details } : {}) },
		}),
	});
	switch (kind) {
		case 'invalid_request':
		case 'too_large':
			return g(400, 'INVALID_ARGUMENT');
		case 'auth':
			// Gemini answers a wrong key with 400, the reason in an ErrorInfo.
			return g(400, 'INVALID_ARGUMENT', [
				{
					'@type': 'type.googleapis.com/google.rpc.ErrorInfo',
					reason: 'API_KEY_INVALID',
					domain: 'googleapis.com',
				},
			]);
		case 'not_found':
			return g(404, 'NOT_FOUND');
		case 'rate_limit':
		case 'resource_unavailable':
			return g(429, 'RESOURCE_EXHAUSTED', [
				{
					'@type': 'type.googleapis.com/google.rpc.RetryInfo',
					retryDelay: `${Math.max(1, Math.ceil((retryAfterMs ?? 1000) / 1000))}s`,
				},
			]);
		case 'quota':
			return g(429, 'RESOURCE_EXHAUSTED');
		case 'server':
			return g(500, 'INTERNAL');
		default:
			return g(503, 'UNAVAILABLE');
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
	authGemini: 'API key not valid. Please pass a valid API key.',
	quotaGemini:
		'You exceeded your current quota, please check your plan and billing details. For more information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits.',
	server: 'The server had an error while processing your request. Sorry about that!',
	unavailable: 'The engine is currently overloaded, please try again later.',
	overloaded: 'Overloaded',
	refusal: "I'm sorry, but I can't help with that request.",
} as const;
