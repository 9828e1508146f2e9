/**
 * The sandbox's server-side rate limits: a request bucket and a token bucket, refilled
 * continuously the way OpenAI and Anthropic document their limits ("the bucket is
 * continuously replenished up to your maximum"), plus the providers' rate-limit headers.
 */

export interface LimiterOptions {
	/** Requests per minute; Infinity = no request limit. */
	readonly rpm: number;
	/** Tokens per minute; Infinity = no token limit. */
	readonly tpm: number;
	/** Bucket capacity = rate per second * burstSeconds (at least 1). */
	readonly burstSeconds: number;
	readonly now: () => number;
}

// Float arithmetic on refills must not turn an exact Retry-After into one more 429.
const EPSILON = 1e-9;

class Bucket {
	readonly ratePerMs: number;
	readonly capacity: number;
	level: number;
	private last: number;

	constructor(
		readonly perMinute: number,
		burstSeconds: number,
		now: number,
	) {
		this.ratePerMs = perMinute / 60_000;
		this.capacity = Math.max(1, (perMinute / 60) * burstSeconds);
		this.level = this.capacity;
		this.last = now;
	}

	refill(t: number): void {
		if (t > this.last) {
			this.level = Math.min(this.capacity, this.level + (t - this.last) * this.ratePerMs);
			this.last = t;
		}
	}

	/**
	 * Milliseconds until `amount` fits. A charge above the burst capacity (but within the
	 * per-minute limit) fits once the bucket is full and leaves it in debt; without that, a
	 * single large request could never pass a small burst.
	 */
	waitMs(amount: number): number {
		const need = Math.min(amount, this.capacity);
		if (this.level + EPSILON >= need) return 0;
		// Whole milliseconds, rounded up, so waiting exactly that long always fits.
		return Math.max(1, Math.ceil((need - this.level) / this.ratePerMs - 1e-6));
	}

	msUntilFull(): number {
		return Math.max(0, (this.capacity - this.level) / this.ratePerMs);
	}

	state(): BucketState {
		return {
			limit: this.perMinute,
			remaining: Math.max(0, Math.floor(this.level + EPSILON)),
			resetMs: this.msUntilFull(),
		};
	}
}

export interface BucketState {
	/** The per-minute limit. */
	limit: number;
	remaining: number;
	/** Milliseconds until the bucket is full again. */
	resetMs: number;
}

export interface LimitState {
	requests?: BucketState;
	tokens?: BucketState;
}

export type Admission =
	| { ok: true; state: LimitState }
	| {
			ok: false;
			state: LimitState;
			reason: 'requests' | 'tokens';
			retryAfterMs: number;
			tooLarge: boolean;
	  };

/** The rate limits of one provider account, as the sandbox enforces them (not the engine's limiter). */
export class AccountLimits {
	private requests?: Bucket;
	private tokens?: Bucket;

	constructor(private readonly opts: LimiterOptions) {
		if (!(opts.rpm > 0))
			throw new Error(`Expected \`rpm\` to be a positive number, got ${opts.rpm}`);
		if (!(opts.tpm > 0))
			throw new Error(`Expected \`tpm\` to be a positive number, got ${opts.tpm}`);
		if (!(opts.burstSeconds > 0))
			throw new Error(
				`Expected \`burstSeconds\` to be a positive number, got ${opts.burstSeconds}`,
			);
		const t = opts.now();
		if (Number.isFinite(opts.rpm)) this.requests = new Bucket(opts.rpm, opts.burstSeconds, t);
		if (Number.isFinite(opts.tpm)) this.tokens = new Bucket(opts.tpm, opts.burstSeconds, t);
	}

	get limited(): boolean {
		return this.requests !== undefined || this.tokens !== undefined;
	}

	/** Takes one request and `tokens` tokens if both fit now; else says how long to wait. */
	admit(tokens: number): Admission {
		const t = this.opts.now();
		this.requests?.refill(t);
		this.tokens?.refill(t);
		if (this.tokens && tokens > this.tokens.perMinute) {
			// OpenAI answers "Request too large ... Limit X, Requested Y" with a 429 of type tokens.
			return {
				ok: false,
				state: this.state(),
				reason: 'tokens',
				retryAfterMs: 60_000,
				tooLarge: true,
			};
		}
		const waitRequests = this.requests?.waitMs(1) ?? 0;
		const waitTokens = this.tokens?.waitMs(tokens) ?? 0;
		if (waitRequests > 0 || waitTokens > 0) {
			return {
				ok: false,
				state: this.state(),
				reason: waitRequests >= waitTokens ? 'requests' : 'tokens',
				retryAfterMs: Math.max(waitRequests, waitTokens),
				tooLarge: false,
			};
		}
		if (this.requests) this.requests.level -= 1;
		if (this.tokens) this.tokens.level -= tokens;
		return { ok: true, state: this.state() };
	}

	state(): LimitState {
		return { requests: this.requests?.state(), tokens: this.tokens?.state() };
	}
}

/** OpenAI's reset format: "120ms", "1s", "6m0s", "1m30.5s". */
export function formatResetDuration(ms: number): string {
	if (ms < 1000) return `${Math.ceil(ms)}ms`;
	let rest = Math.ceil(ms) / 1000;
	const h = Math.floor(rest / 3600);
	rest -= h * 3600;
	const m = Math.floor(rest / 60);
	rest -= m * 60;
	const s = `${Math.round(rest * 1000) / 1000}s`;
	if (h > 0) return `${h}h${m}m${s}`;
	return m > 0 ? `${m}m${s}` : s;
}

export function openAiRateHeaders(state: LimitState, headers: Record<string, string>): void {
	for (const [kind, b] of [
		['requests', state.requests],
		['tokens', state.tokens],
	] as const) {
		if (!b) continue;
		headers[`x-ratelimit-limit-${kind}`] = String(b.limit);
		headers[`x-ratelimit-remaining-${kind}`] = String(b.remaining);
		headers[`x-ratelimit-reset-${kind}`] = formatResetDuration(b.resetMs);
	}
}

export function anthropicRateHeaders(
	state: LimitState,
	now: number,
	headers: Record<string, string>,
): void {
	// The sandbox keeps one token bucket; Anthropic's total and input-token families both report it.
	for (const [kind, b] of [
		['requests', state.requests],
		['tokens', state.tokens],
		['input-tokens', state.tokens],
	] as const) {
		if (!b) continue;
		headers[`anthropic-ratelimit-${kind}-limit`] = String(b.limit);
		headers[`anthropic-ratelimit-${kind}-remaining`] = String(b.remaining);
		headers[`anthropic-ratelimit-${kind}-reset`] = new Date(
			now + Math.ceil(b.resetMs),
		).toISOString();
	}
}
