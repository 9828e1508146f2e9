/**
 * The providers' rate-limit headers (and Retry-After, `retryAfterMs`), read into one shape:
 * OpenAI `x-ratelimit-{limit,remaining,reset}-{requests,tokens}` (reset as `1s`, `6m0s`, `120ms`),
 * Anthropic `anthropic-ratelimit-{requests,tokens}-{limit,remaining,reset}` (reset in RFC 3339).
 */
export interface RateLimitInfo {
	/** Requests per minute the account is allowed. */
	limitRequests?: number;
	remainingRequests?: number;
	/** Milliseconds until the request budget is back. */
	resetRequestsMs?: number;
	limitTokens?: number;
	remainingTokens?: number;
	resetTokensMs?: number;
}

export type HeaderBag =
	| { get(name: string): string | null }
	| Record<string, string | string[] | undefined>;

function header(headers: HeaderBag, name: string): string | undefined {
	if (typeof (headers as { get?: unknown }).get === 'function')
		return (headers as { get(n: string): string | null }).get(name) ?? undefined;
	const v = (headers as Record<string, string | string[] | undefined>)[name];
	return Array.isArray(v) ? v[0] : v;
}

function num(v: string | undefined): number | undefined {
	if (v === undefined || v.trim() === '') return undefined;
	const n = Number(v);
	return Number.isFinite(n) && n >= 0 ? n : undefined;
}

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** OpenAI's Go-style duration (`1s`, `6m0s`, `120ms`, `0.5s`), or plain seconds. */
export function parseDuration(v: string | undefined): number | undefined {
	if (v === undefined || v === '') return undefined;
	const plain = num(v);
	if (plain !== undefined) return plain * 1000;
	const re = /(\d+(?:\.\d+)?)(ms|h|m|s)/gy;
	let total = 0;
	let matched = 0;
	let m: RegExpExecArray | null;
	while ((m = re.exec(v)) !== null) {
		total += Number(m[1]) * UNIT_MS[m[2]];
		matched = re.lastIndex;
	}
	return matched === v.length ? total : undefined;
}

function untilDate(v: string | undefined, now: number): number | undefined {
	if (v === undefined || v === '') return undefined;
	const t = Date.parse(v);
	return Number.isFinite(t) ? Math.max(0, t - now) : undefined;
}

/** Undefined when the answer carries no rate-limit header of either dialect. */
export function readRateLimit(
	headers: HeaderBag | undefined,
	now: number,
): RateLimitInfo | undefined {
	if (!headers) return undefined;
	// Read once per answer: only the fields found are set (no `delete`, which turns an object
	// into a slow dictionary), and an answer without any allocates nothing.
	let info: RateLimitInfo | undefined;
	for (const [field, openai, readOpenAi, anthropic, readAnthropic] of FIELDS) {
		const v =
			readOpenAi(header(headers, openai), now) ?? readAnthropic(header(headers, anthropic), now);
		if (v !== undefined) (info ??= {})[field] = v;
	}
	return info;
}

type Reader = (v: string | undefined, now: number) => number | undefined;

/** Each field: OpenAI's header and how it reads, then Anthropic's. */
const FIELDS: ReadonlyArray<readonly [keyof RateLimitInfo, string, Reader, string, Reader]> = [
	['limitRequests', 'x-ratelimit-limit-requests', num, 'anthropic-ratelimit-requests-limit', num],
	[
		'remainingRequests',
		'x-ratelimit-remaining-requests',
		num,
		'anthropic-ratelimit-requests-remaining',
		num,
	],
	[
		'resetRequestsMs',
		'x-ratelimit-reset-requests',
		parseDuration,
		'anthropic-ratelimit-requests-reset',
		untilDate,
	],
	['limitTokens', 'x-ratelimit-limit-tokens', num, 'anthropic-ratelimit-tokens-limit', num],
	[
		'remainingTokens',
		'x-ratelimit-remaining-tokens',
		num,
		'anthropic-ratelimit-tokens-remaining',
		num,
	],
	[
		'resetTokensMs',
		'x-ratelimit-reset-tokens',
		parseDuration,
		'anthropic-ratelimit-tokens-reset',
		untilDate,
	],
];

/** The headers of whatever a provider call threw (SDK errors carry them), if any. */
export function headersOf(error: unknown): HeaderBag | undefined {
	for (let e = error, depth = 0; e && typeof e === 'object' && depth < 4; depth++) {
		const h = (e as { headers?: unknown }).headers;
		if (h && typeof h === 'object') return h as HeaderBag;
		e = (e as { cause?: unknown }).cause;
	}
	return undefined;
}

/**
 * Reads `retry-after-ms`, then `retry-after` (seconds or an HTTP date), as openai-node does.
 * Returns undefined when neither is usable.
 */
export function retryAfterMs(headers: HeaderBag | undefined, now: number): number | undefined {
	if (!headers) return undefined;
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
