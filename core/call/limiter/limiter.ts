import type { RateLimitInfo } from '../rate-headers';
import type { RateLimits } from './policy';

/** How a run's request went, for the limiter. */
export interface FlowObservation {
	outcome: 'ok' | 'rate_limited' | 'other';
	rateLimit?: RateLimitInfo;
}

/** What the progress line and the hint say about the rate. */
export interface FlowReport {
	/** Requests per minute admitted now. */
	settledRpm: number;
	/** This run's configured RPM. */
	configuredRpm: number;
	/** Lowest RPM configured by the runs sharing this key (= configuredRpm when alone or lowest). */
	lowestConfiguredRpm: number;
	/** Other runs sharing this key's budget now (counted in one process; 0 = not counted). */
	sharedWith: number;
	/**
	 * Where the budget is shared: `process` — executions in this n8n process; `redis` — every
	 * execution on any worker or n8n process that shares the limits through the same Redis.
	 * @default 'process'
	 */
	sharedThrough?: 'process' | 'redis';
	/** RPM the provider's headers announced, when lower than the configured one. */
	learnedRpm?: number;
	/** Times the rate was cut for 429s. */
	cuts: number;
}

/**
 * What a run uses to pace its requests: a lease on this process's limiter (`FlowLease`, in-process.ts),
 * or a `StoreLimiter` (store-limiter.ts) sharing the limit through a store (Redis).
 */
export interface Limiter {
	/** This run's configured limits. */
	readonly limits: RateLimits;
	/** Resolves when one request of `tokens` estimated tokens may be sent. */
	acquire(tokens: number, signal?: AbortSignal): Promise<void>;
	/** Replace the estimate by the usage the provider reported. */
	correct(estimatedTokens: number, actualTokens: number): void;
	/** One answer: `'cluster'` when a 429 slowed everyone down, `'isolated'` when only its own request waits. */
	observe(o: FlowObservation): 'cluster' | 'isolated' | undefined;
	report(): FlowReport;
	/** The run is over. */
	release(): void;
}
