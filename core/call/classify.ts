/**
 * What a thrown provider error means in the taxonomy: anything a provider call can throw
 * (openai / anthropic SDK errors, fetch and socket errors, a broken body) becomes one
 * `LlmBatchError` with its code, retry rule and Retry-After, and a message that keeps at most
 * the first line of the provider's own (never the whole body).
 */
import { LlmBatchError, MODEL_UNKNOWN } from './errors';
import { retryAfterMs, type HeaderBag } from './rate-headers';
import type { ProviderName } from '../types';

interface ErrorLike {
	name?: string;
	message?: string;
	status?: number;
	code?: string | null;
	type?: string | null;
	headers?: HeaderBag;
	error?: unknown;
	requestID?: string | null;
	request_id?: string | null;
	cause?: unknown;
}

function text(v: unknown): string {
	if (typeof v === 'string') return v;
	try {
		return JSON.stringify(v) ?? '';
	} catch {
		return String(v);
	}
}

/** Longest provider detail kept in a message: the rest of a body is never stored. */
export const MAX_DETAIL_CHARS = 300;

function firstLine(text: string): string {
	let t = text;
	if (/^\s*</.test(t)) {
		// An HTML error page (a proxy's 502): its title, else its text without tags.
		const title = /<title[^>]*>([^<]*)<\/title>/i.exec(t.slice(0, 4096));
		t = title ? title[1] : t.slice(0, 4096).replace(/<[^>]*>/g, ' ');
	}
	const line =
		t
			.split(/\r?\n/)
			.map((l) => l.trim().replace(/\s+/g, ' '))
			.find((l) => l !== '') ?? '';
	return line.length > MAX_DETAIL_CHARS ? `${line.slice(0, MAX_DETAIL_CHARS)}…` : line;
}

function field(v: unknown, key: string): unknown {
	return v && typeof v === 'object' ? (v as Record<string, unknown>)[key] : undefined;
}

/**
 * What a message keeps of a provider's error: its error type and the first line (at most
 * 300 characters) of its message — never the whole body. OpenAI puts `{message, type, code}`
 * in `e.error`; Anthropic `{type: 'error', error: {type, message}}`; a non-JSON body (an HTML
 * page) only reaches the SDK's message, after the status.
 */
export function providerDetail(e: {
	message?: string;
	error?: unknown;
	status?: number;
	type?: string | null;
}): { type?: string; text: string } {
	const body = e.error;
	const inner = field(body, 'error') ?? body;
	const typeOf = (v: unknown) => (typeof v === 'string' && v !== '' ? v : undefined);
	const type = typeOf(field(inner, 'type')) ?? typeOf(e.type) ?? typeOf(field(inner, 'code'));
	const bodyMessage = field(inner, 'message') ?? field(body, 'message');
	let text = typeof bodyMessage === 'string' ? bodyMessage : typeof body === 'string' ? body : '';
	if (text === '') {
		text = e.message ?? '';
		if (e.status !== undefined && text.startsWith(`${e.status} `))
			text = text.slice(String(e.status).length + 1);
	}
	return { type: type === 'error' ? undefined : type, text: firstLine(text) };
}

function bodyCodes(e: ErrorLike): string {
	// openai: e.code / e.type / e.error.{code,type}; anthropic: e.error.error.type
	const parts = [e.code, e.type, text(e.error)];
	return parts.filter(Boolean).join(' ').toLowerCase();
}

const CONNECTION_CODES = new Set([
	'ECONNRESET',
	'ECONNREFUSED',
	'EPIPE',
	'ENOTFOUND',
	'EAI_AGAIN',
	'ETIMEDOUT',
	'UND_ERR_SOCKET',
	'ECONNABORTED',
]);

function causeCode(e: unknown, depth = 0): string | undefined {
	if (!e || typeof e !== 'object' || depth > 4) return undefined;
	const c = (e as { code?: unknown }).code;
	if (typeof c === 'string' && CONNECTION_CODES.has(c)) return c;
	return causeCode((e as { cause?: unknown }).cause, depth + 1);
}

/**
 * Maps anything a provider call can throw (openai / anthropic SDK errors, fetch and socket
 * errors, JSON parse errors of a broken body) into the taxonomy. Duck-typed on `status`,
 * `name` and the error body so this file needs neither SDK.
 */
export function classifyError(
	err: unknown,
	provider: ProviderName | undefined,
	now: number,
): LlmBatchError {
	if (err instanceof LlmBatchError) return err;
	const e = (err ?? {}) as ErrorLike;
	// SDK error classes do not all set `name`; their constructor names are stable API.
	const ctor = (err as { constructor?: { name?: string } } | null)?.constructor?.name;
	const name = ctor && ctor !== 'Error' && ctor !== 'Object' ? ctor : (e.name ?? '');
	const message = e.message ?? text(err);
	const requestId = (e.requestID ?? e.request_id ?? undefined) || undefined;
	const base = { provider, requestId, cause: err };
	const status = typeof e.status === 'number' ? e.status : undefined;

	if (name === 'APIUserAbortError' || name === 'AbortError') {
		return new LlmBatchError('canceled', 'The request was canceled', base);
	}
	if (
		name === 'APIConnectionTimeoutError' ||
		name === 'TimeoutError' ||
		/timed? ?out/i.test(name)
	) {
		return new LlmBatchError('timeout', 'No answer within the request timeout', base);
	}
	if (status === undefined) return withoutStatus(err, name, message, base);
	return byStatus(e, status, message, base, now);
}

type ErrorBase = {
	provider: ProviderName | undefined;
	requestId: string | undefined;
	cause: unknown;
};

/** No HTTP status: a broken body, the connection, or a request that could not be made. */
function withoutStatus(
	err: unknown,
	name: string,
	message: string,
	base: ErrorBase,
): LlmBatchError {
	if (name === 'SyntaxError' || /JSON/.test(message)) {
		// The HTTP body itself is broken (cut off, empty, not JSON): the provider's fault.
		return new LlmBatchError(
			'server_error',
			'The provider sent a response body that is not valid JSON (empty or cut off)',
			base,
		);
	}
	const sockCode = causeCode(err);
	if (
		name === 'APIConnectionError' ||
		sockCode ||
		/socket|network|fetch failed|connection/i.test(message)
	) {
		return new LlmBatchError(
			'connection',
			`Connection error${sockCode ? ` (${sockCode})` : ''}: ${message}`,
			base,
		);
	}
	return new LlmBatchError('invalid_request', message || 'Unknown error', {
		...base,
		retryable: false,
	});
}

/** What the provider's HTTP status (and the error body's codes) say: first a rate or quota limit. */
function byStatus(
	e: ErrorLike,
	status: number,
	message: string,
	base: ErrorBase,
	now: number,
): LlmBatchError {
	const withStatus = { ...base, status };
	const codes = bodyCodes(e);
	const d = providerDetail({ ...e, status });
	const detail = `${d.type ? ` (${d.type})` : ''}${d.text ? `: ${d.text}` : ''}`;
	if (codes.includes('token_limit_exceeded')) {
		// OpenAI's enqueued-token limit (a batch refused for what is already queued): a capacity
		// wait, not a bad request — the same requests pass later, or sooner in smaller batches.
		return new LlmBatchError(
			'rate_limited',
			`Capacity wait: the enqueued-token limit for this model is reached (token_limit_exceeded)${d.text ? `: ${d.text}` : ''}. Resubmit later, in smaller batches (Batch Size) if it persists`,
			withStatus,
		);
	}
	if (status === 429) {
		if (codes.includes('insufficient_quota') || codes.includes('billing')) {
			return new LlmBatchError(
				'quota_exhausted',
				'The account has no quota left (insufficient_quota): add credit or raise the limit, then rerun',
				withStatus,
			);
		}
		if (codes.includes('resource_unavailable') || /resource unavailable/i.test(message)) {
			// Flex processing had no capacity for the request: not billed, not the account's rate
			// limit and not an outage — a wait (core/call/verdict.ts `capacityWait`).
			return new LlmBatchError(
				'resource_unavailable',
				`Flex capacity unavailable (429 resource_unavailable, not billed)${d.text ? `: ${d.text}` : ''}`,
				{ ...withStatus, retryAfterMs: retryAfterMs(e.headers, now) },
			);
		}
		return new LlmBatchError('rate_limited', 'Rate limited by the provider (429)', {
			...withStatus,
			retryAfterMs: retryAfterMs(e.headers, now),
		});
	}
	return byRefusal(e, status, message, withStatus, now, codes, detail);
}

/** Not a rate or quota answer: the credential, the content, the model, or the provider's fault. */
function byRefusal(
	e: ErrorLike,
	status: number,
	message: string,
	withStatus: ErrorBase & { status: number },
	now: number,
	codes: string,
	detail: string,
): LlmBatchError {
	if (status === 401 || status === 403) {
		return new LlmBatchError(
			'auth',
			`The provider refused the credential (${status}): check the API key and its permissions`,
			withStatus,
		);
	}
	if (
		status === 402 ||
		(status === 400 && /credit balance|billing/.test(codes + message.toLowerCase()))
	) {
		return new LlmBatchError(
			'quota_exhausted',
			`Billing or quota problem ${status}${detail}`,
			withStatus,
		);
	}
	if (status === 400 && /content_policy|content_filter|safety/.test(codes)) {
		return new LlmBatchError(
			'content_filter',
			`The provider refused the content (${status})${detail}`,
			withStatus,
		);
	}
	if ((status === 404 || status === 400) && MODEL_UNKNOWN.test(`${codes} ${message}`)) {
		return new LlmBatchError('model_not_found', `${status} model not found${detail}`, {
			...withStatus,
			retryable: false,
		});
	}
	if (status === 408) return new LlmBatchError('timeout', `Request timeout (408)`, withStatus);
	if (status === 409 || status >= 500) {
		return new LlmBatchError('server_error', `Provider error ${status}${detail}`, {
			...withStatus,
			retryAfterMs: retryAfterMs(e.headers, now),
		});
	}
	return new LlmBatchError(
		'invalid_request',
		`The provider rejected the request (${status})${detail}`,
		withStatus,
	);
}
