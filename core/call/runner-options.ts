/** What a runner (./runner.ts) is given: its provider, limits, clock, retry and stop policies. */
import type { BreakerOptions } from './breaker';
import type { CostMeter } from './budget';
import type { FailureRateWatch } from './failure-rate';
import type { Limiter } from './limiter/limiter';
import type { Provider } from './providers/types';
import type { FixInvalidBy } from './reask';
import type { RetryPolicy } from './retry';
import type { TierPolicy } from './service-tier';
import type { RunEvent } from './types';
import type { Checkpoint } from '../ledger/types';
import type { SchemaValidator } from '../schema';
import type { Clock, Usage } from '../types';

export interface CircuitOptions extends BreakerOptions {
	/**
	 * What an open circuit does: wait for the provider (half-open probes) until `outageMs`,
	 * or stop the run at once. @default 'pause'
	 */
	readonly onOpen?: 'pause' | 'stop';
}

export interface RunnerOptions extends TierPolicy {
	readonly provider: Provider;
	/**
	 * This run's lease on the (shared) flow controller: rate limits, AIMD, learned limits. In
	 * this process (`sharedFlow`) or through a store shared by several processes (`StoreLimiter`).
	 */
	readonly flow: Limiter;
	readonly clock: Clock;
	/** Most requests in flight at once for this run (the adaptive limit stays under it). */
	readonly concurrency: number;
	readonly retry?: RetryPolicy;
	/** Per request (a flex request: `flexTimeoutMs`, see ./service-tier.ts). */
	readonly timeoutMs: number;
	/** The n8n execution's cancel signal: the only thing that aborts requests in flight. */
	readonly signal?: AbortSignal;
	readonly circuit?: CircuitOptions;
	/**
	 * Longest Retry-After honoured; a 429 asking for more ends that item `rate_limited` with
	 * the wait in its message (a 5xx's longer Retry-After is cut to this). @default 60000
	 */
	readonly maxRetryAfterMs?: number;
	/**
	 * The first item goes alone: a 404 endpoint, an unknown model or a refused connection ends
	 * the run with a `ConfigurationError` before anything else is sent. @default true
	 */
	readonly failFast?: boolean;
	/** What the configuration error names (model ID, base URL without the key). */
	readonly setting?: { model: string; baseUrl?: string };
	/** Structured output asked for: the answer must be JSON (and pass `validate` when given). */
	readonly structured?: { validate?: SchemaValidator };
	/**
	 * Prices every request and keeps the cost cap (core/call/budget.ts); the runners of one run
	 * (primary, fallbacks, grouped requests) share one. Without it: `costOf` and `maxCostUsd`.
	 */
	readonly meter?: CostMeter;
	/** Without a `meter`: the price of an answer. */
	readonly costOf?: (model: string, usage: Usage) => number | undefined;
	/** Without a `meter`: the run's cost cap, kept by reserving each request's most before it is sent. */
	readonly maxCostUsd?: number;
	/** Retry a `truncated` answer with twice the max tokens (up to 4x). @default true */
	readonly growMaxTokensOnTruncation?: boolean;
	readonly checkpoint?: Checkpoint;
	readonly onEvent?: (e: RunEvent) => void;
	/**
	 * Send the first item alone before the fan-out, so its answer creates the prompt-cache
	 * entry every other request then reads (a cache entry is usable only once the first
	 * response has begun). With `failFast` (the default) the first item goes alone anyway.
	 * @default false
	 */
	readonly warmUp?: boolean;
	/**
	 * Answers that are malformed or fail the schema get up to this many fix calls, each a
	 * follow-up turn with the errors ("return only the corrected JSON") or a fresh call, as
	 * `fixInvalidBy` says. @default 0
	 */
	readonly maxReasks?: number;
	/**
	 * How an invalid answer is fixed: re-ask with the errors, a fresh call, or whichever the run
	 * measures cheaper per answer made valid (core/call/reask.ts `FixChooser`). @default 'reask'
	 */
	readonly fixInvalidBy?: FixInvalidBy;
	/**
	 * A fallback model waits (core/call/fallback.ts): an overloaded provider (529, or 503)
	 * ends the item at once so the fallback answers it. @default false
	 */
	readonly handOffOverloaded?: boolean;
	/**
	 * Stop When Failures Exceed (core/call/failure-rate.ts): every item this runner ends after
	 * an answer is shown to it, and its trip stops the run with `stopped_failure_rate`. The
	 * runners of one call (every model of the chain) share one. @default undefined (never)
	 */
	readonly failureRate?: FailureRateWatch;
}
