import {
	RETRYABLE_CODES,
	type ErrorCode,
	type Issue,
	type ItemError,
	type ProviderName,
} from '../types';

/** The one error class core throws: a machine `code` from the taxonomy plus what a retry needs. */
export class LlmBatchError extends Error {
	readonly code: ErrorCode;
	readonly retryable: boolean;
	readonly status?: number;
	readonly provider?: ProviderName;
	readonly requestId?: string;
	/** From `retry-after-ms` / `retry-after`, when the provider sent one. */
	readonly retryAfterMs?: number;
	readonly issues?: Issue[];

	constructor(
		code: ErrorCode,
		message: string,
		extra: {
			status?: number;
			provider?: ProviderName;
			requestId?: string;
			retryAfterMs?: number;
			issues?: Issue[];
			retryable?: boolean;
			cause?: unknown;
		} = {},
	) {
		super(message, extra.cause === undefined ? undefined : { cause: extra.cause });
		this.name = 'LlmBatchError';
		this.code = code;
		this.retryable = extra.retryable ?? RETRYABLE_CODES.has(code);
		this.status = extra.status;
		this.provider = extra.provider;
		this.requestId = extra.requestId;
		this.retryAfterMs = extra.retryAfterMs;
		this.issues = extra.issues;
	}

	toItemError(attempts: number): ItemError {
		const out: ItemError = {
			code: this.code,
			message: this.message,
			retryable: this.retryable,
			attempts,
		};
		if (this.status !== undefined) out.status = this.status;
		if (this.provider !== undefined) out.provider = this.provider;
		if (this.requestId !== undefined) out.requestId = this.requestId;
		if (this.issues !== undefined) out.issues = this.issues;
		return out;
	}
}

type HeaderBag =
	| { get(name: string): string | null }
	| Record<string, string | string[] | undefined>;

function header(headers: HeaderBag | undefined, name: string): string | undefined {
	if (!headers) return undefined;
	if (typeof (headers as { get?: unknown }).get === 'function') {
		return (headers as { get(n: string): string | null }).get(name) ?? undefined;
	}
	const v = (headers as Record<string, string | string[] | undefined>)[name];
	return Array.isArray(v) ? v[0] : v;
}

/**
 * Reads `retry-after-ms`, then `retry-after` (seconds or an HTTP date), as openai-node does.
 * Returns undefined when neither is usable.
 */
export function retryAfterMs(headers: HeaderBag | undefined, now: number): number | undefined {
	const ms = header(headers, 'retry-after-ms');
	if (ms !== undefined && ms !== '') {
		const n = Number(ms);
		if (Number.isFinite(n) && n >= 0) return n;
	}
	const ra = header(headers, 'retry-after');
	if (ra === undefined || ra === '') return undefined;
	const secs = Number(ra);
	if (Number.isFinite(secs) && secs >= 0) return secs * 1000;
	const date = Date.parse(ra);
	if (Number.isFinite(date)) return Math.max(0, date - now);
	return undefined;
}

/** A 200 whose body is empty (or not an object): the provider's fault, retried. */
export function emptyBody(provider: ProviderName): LlmBatchError {
	return new LlmBatchError('server_error', 'The provider answered with an empty body', {
		provider,
	});
}

/**
 * A model the provider does not serve (any more): OpenAI's 404 `model_not_found` / "The model
 * … does not exist", Anthropic's 404 `not_found_error` "model: …". Every further request to
 * that model fails the same way, so it stops the model's run (and hands over to a fallback).
 */
export const MODEL_UNKNOWN =
	/model_not_found|not_found_error.*model|model.*(does not exist|not found|unknown)|unknown model|invalid model/i;

/** The same error, saying which model is gone and what to do. */
export function modelGone(error: LlmBatchError, model: string): LlmBatchError {
	return new LlmBatchError(
		'model_not_found',
		`The provider does not serve the model "${model}" (${error.message}): enter a model it serves; a Fallback Model, when set, takes its items over`,
		{
			status: error.status,
			provider: error.provider,
			requestId: error.requestId,
			cause: error.cause,
		},
	);
}

const STOP_CODES: ReadonlySet<ErrorCode> = new Set(['auth', 'quota_exhausted', 'model_not_found']);

/** Codes after which calling on only spends money or hammers a dead credential. */
export function stopsTheRun(code: ErrorCode): boolean {
	return STOP_CODES.has(code);
}

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

/** What the provider's HTTP status (and the error body's codes) say. */
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
