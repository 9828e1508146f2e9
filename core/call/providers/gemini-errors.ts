/**
 * Gemini's error answers (`{ error: { code, message, status, details } }`, google.rpc.Status)
 * into the one taxonomy (core/call/classify.ts `classifyError`), with the two things only
 * Gemini's body says: the wait of a 429 (`google.rpc.RetryInfo.retryDelay`, e.g. "13s") and
 * an invalid key, which Gemini answers with 400 INVALID_ARGUMENT and reason API_KEY_INVALID.
 */
import { classifyError } from '../classify';
import { LlmBatchError } from '../errors';
import { retryAfterMs } from '../rate-headers';

interface GoogleStatus {
	code?: number;
	message?: string;
	status?: string;
	details?: Array<Record<string, unknown>>;
}

const RETRY_INFO = 'type.googleapis.com/google.rpc.RetryInfo';
const ERROR_INFO = 'type.googleapis.com/google.rpc.ErrorInfo';

/** A protobuf Duration in JSON ("13s", "0.5s") in milliseconds; undefined when unreadable. */
export function durationMs(d: unknown): number | undefined {
	if (typeof d !== 'string') return undefined;
	const m = /^(\d+(?:\.\d+)?)s$/.exec(d.trim());
	return m ? Math.round(Number(m[1]) * 1000) : undefined;
}

function statusOf(body: unknown): GoogleStatus {
	const e = body && typeof body === 'object' ? (body as { error?: unknown }).error : undefined;
	return e && typeof e === 'object' ? (e as GoogleStatus) : {};
}

/** The error of a Gemini answer with HTTP status `status` (not 2xx). */
export function geminiError(
	status: number,
	body: unknown,
	headers: Headers | undefined,
	now: number,
): LlmBatchError {
	const s = statusOf(body);
	const details = Array.isArray(s.details) ? s.details : [];
	const message = typeof s.message === 'string' ? s.message : `HTTP ${status}`;
	if (status === 429) {
		// RESOURCE_EXHAUSTED is Gemini's per-minute/per-day rate limit; its message speaks of
		// "quota" and "billing" for every rate limit, so the words do not mean an empty account.
		const wait = details.find((d) => d['@type'] === RETRY_INFO)?.retryDelay;
		return new LlmBatchError(
			'rate_limited',
			'Rate limited by the provider (429 RESOURCE_EXHAUSTED)',
			{
				status,
				provider: 'gemini',
				retryAfterMs: durationMs(wait) ?? retryAfterMs(headers, now),
			},
		);
	}
	if (details.some((d) => d['@type'] === ERROR_INFO && d.reason === 'API_KEY_INVALID')) {
		return new LlmBatchError(
			'auth',
			`The provider refused the credential (${status} API_KEY_INVALID): check the API key`,
			{ status, provider: 'gemini' },
		);
	}
	// The rest is what every provider's status and words say: the shared mapping reads the
	// status word as the error type and the message as the detail.
	return classifyError(
		{ status, message, headers, error: { error: { type: s.status, message } } },
		'gemini',
		now,
	);
}
