/**
 * The vocabulary of a run (core/call/): what goes in (`RunItem`), what comes out (`Outcome`),
 * what is counted on the way (`RunStats`) and said on the way (`RunEvent`). Types only, and
 * the two constructors every stage shares, so no stage imports another for a type.
 */
import type { ConcurrencyReport } from './concurrency';
import type { FlowReport, Limiter } from './limiter/limiter';
import type { ProviderCredentials } from './providers';
import type { ChatRequest } from './providers/types';
import type { FixInvalidBy } from './reask';
import type { Price } from '../cost';
import type { LedgerStore } from '../ledger/types';
import type {
	Clock,
	ErrorCode,
	ItemError,
	LlmResult,
	ProviderName,
	ServiceTier,
	Usage,
} from '../types';

export interface RunItem {
	/** Position in the node's input: outcomes carry it back for `pairedItem`. */
	index: number;
	recordId: string;
	request: ChatRequest;
	/** Estimated input tokens (the controller charges these + max output tokens). */
	inputTokens: number;
	promptHash: string;
	/** Stored with the result (Batch Ledger's Skip Completed compares it). */
	inputHash?: string;
	/**
	 * Tokens of the cacheable prefix (schema + system prompt) when prompt caching is on:
	 * Anthropic's input-token limit does not count cache reads, so once the cache is warm
	 * the flow controller is charged without them.
	 */
	cachePrefixTokens?: number;
	/**
	 * A request that carries several records (core/call/group.ts): the answer only has to
	 * be a JSON object (the group splits and checks it), it is not stored in the ledger as
	 * a record, and an answer that cannot be used ends it at once (the group is split)
	 * instead of being retried whole.
	 */
	group?: boolean;
	/**
	 * The records a grouped request carries: claimed (their leases renewed) before every
	 * attempt of the group, as a single record is.
	 */
	members?: ReadonlyArray<{ recordId: string; promptHash: string }>;
	/** Usage already paid for this record (a group share, a re-ask from the workflow): added to its result. */
	priorUsage?: Usage;
	priorAttempts?: number;
}

export type Outcome =
	| { index: number; ok: true; result: LlmResult }
	| { index: number; ok: false; error: ItemError };

export type RunEvent =
	| { type: 'retry'; index: number; code: ErrorCode; delayMs: number; attempt: number }
	| { type: 'rate_limited'; index: number; waitMs?: number; cluster: boolean }
	| { type: 'circuit'; action: 'pause' | 'resume' | 'stop'; failureShare: number }
	| { type: 'stop'; code: ErrorCode; message: string };

/** Live counters; the progress line and the final hint read them. */
export interface RunStats {
	total: number;
	done: number;
	succeeded: number;
	failed: number;
	cached: number;
	retries: number;
	rateLimited: number;
	inputTokens: number;
	outputTokens: number;
	costUsd: number;
	/** Input tokens served from the prompt cache, and written to it. */
	cachedInputTokens: number;
	cacheWriteTokens: number;
	/** Follow-up turns sent with validation errors. */
	reasks: number;
	/** Fresh calls sent to fix an invalid answer (Fix Invalid Answers By). */
	freshFixes: number;
	/** Some result had no known price. */
	costUnknown: boolean;
	startedAt: number;
	failuresByCode: Partial<Record<ErrorCode, number>>;
	stopped?: { code: ErrorCode; message: string };
	/** The rate the controller settled on against the configured one. */
	flow?: FlowReport;
	concurrency?: ConcurrencyReport;
	/** Times the circuit opened (an outage; each one paused the run). */
	circuitOpenings?: number;
	/** Answers that arrived after a stop and were kept (paid, so delivered). */
	keptAfterStop?: number;
	/**
	 * Flex's unbilled 429 `resource_unavailable` waited out: neither failures, nor retries, nor
	 * rate limits, nor outages.
	 */
	capacityWaits?: number;
	/** Answers by the processing tier that answered them, when a tier was asked for or reported. */
	answeredByTier?: Record<string, number>;
}

export function emptyStats(total: number, startedAt: number): RunStats {
	return {
		total,
		done: 0,
		succeeded: 0,
		failed: 0,
		cached: 0,
		retries: 0,
		rateLimited: 0,
		inputTokens: 0,
		outputTokens: 0,
		costUsd: 0,
		cachedInputTokens: 0,
		cacheWriteTokens: 0,
		reasks: 0,
		freshFixes: 0,
		costUnknown: false,
		startedAt,
		failuresByCode: {},
	};
}

export function addUsage(a: Usage | undefined, b: Usage): Usage {
	if (!a) return b;
	const out: Usage = {
		inputTokens: a.inputTokens + b.inputTokens,
		outputTokens: a.outputTokens + b.outputTokens,
	};
	for (const k of ['cachedInputTokens', 'cacheWriteTokens', 'cacheWrite1hTokens'] as const) {
		const v = (a[k] ?? 0) + (b[k] ?? 0);
		if (v > 0) out[k] = v;
	}
	const tier = dearerTier(a.serviceTier, b.serviceTier);
	if (tier !== undefined) out.serviceTier = tier;
	return out;
}

const TIER_RANK: Readonly<Record<string, number>> = { flex: 0, priority: 2 };

/**
 * Usage summed over answers billed at different tiers (a flex answer that failed the schema,
 * then its fix on the standard tier after the Flex Deadline) is priced at the dearer of them:
 * an item's cost may be overstated, never understated. Absent = the standard tier.
 */
function dearerTier(a: string | undefined, b: string | undefined): string | undefined {
	const rank = (t: string | undefined) => (t === undefined ? 1 : (TIER_RANK[t] ?? 1));
	return rank(a) >= rank(b) ? a : b;
}

// What LLM Batch Call hands its one entry (core/call/run-call.ts `runCall`) and gets back.

/** The options of LLM Batch Call a run reads (the node's Options collection). */
export interface CallOptions {
	readonly maxTokens: number;
	readonly temperature?: number;
	readonly maxAttempts: number;
	readonly timeoutSeconds: number;
	/** The primary's window; 0 = the model's known one. */
	readonly contextWindow: number;
	readonly maxCostUsd: number;
	readonly budgetScope: 'run' | 'job';
	readonly circuitThreshold: number;
	readonly outageMinutes: number;
	readonly onCircuitOpen: 'pause' | 'stop';
	readonly maxRetryAfterSeconds: number;
	readonly progressIntervalSeconds: number;
	readonly responseCache: 'off' | 'job' | 'allJobs';
	readonly recordsPerRequest: number;
	readonly maxRecordTokensPerRequest: number;
	readonly promptCaching: '5m' | '1h' | 'off';
	readonly maxReasks: number;
	readonly fixInvalidBy: FixInvalidBy;
	/** OpenAI's processing tier for every OpenAI model of the chain; `auto`: none sent. */
	readonly serviceTier?: ServiceTier;
	/** Minutes from the run's start after which flex requests go out at the standard tier; 0 = none. */
	readonly flexDeadlineMinutes?: number;
	/** Per flex request. */
	readonly flexTimeoutSeconds?: number;
	/**
	 * Stop When Failures Exceed: the run stops once more than this % of the last
	 * `stopFailureWindow` answered items failed for a non-transient reason
	 * (core/call/failure-rate.ts). 0 or absent = never.
	 */
	readonly stopFailurePercent?: number;
	/** Answered items that share is taken over. */
	readonly stopFailureWindow?: number;
}

export interface Endpoint {
	readonly provider: ProviderName;
	readonly credentials: ProviderCredentials;
}

export interface CallConfig {
	readonly primary: Endpoint & { readonly model: string };
	/** The fallback models, in order, on one provider and credential. */
	readonly fallback?: Endpoint & { readonly models: readonly string[] };
	readonly schema?: Record<string, unknown>;
	readonly concurrency: number;
	readonly tokensPerMinute: number;
	readonly options: CallOptions;
	/** Prices set in the node, by model (over the known ones). */
	readonly prices: Readonly<Record<string, Price>>;
	readonly ledger?: { readonly store: LedgerStore; readonly job: string };
	/** The node's name: log lines start with it. */
	readonly label: string;
}

/** A model's share of the rate limits (nodes/LlmBatchCall/sharedLimit.ts makes them). */
export interface CallLimit {
	readonly limiter: Limiter;
	/** The limit's own stop ("Redis unavailable: stop") ends the run through it. */
	onStop(stop: (message: string) => void): void;
	finish(): string | undefined;
	release(): void;
}

export interface CallDeps {
	readonly clock: Clock;
	readonly fetch?: typeof fetch;
	/** The execution's cancel signal. */
	readonly signal?: AbortSignal;
	/** The primary's limit, then one per fallback model. */
	readonly limits: readonly CallLimit[];
	readonly log: { info(line: string): void; warn(line: string): void };
}

/** The node's items, read: what can be sent, what was rejected, what each item resolved to. */
export interface CallInput {
	/** How many items the node received. */
	readonly total: number;
	readonly items: RunItem[];
	readonly rejected: ReadonlyMap<number, ItemError>;
	/** Each item's resolved parameters: a fallback model builds its own request from them. */
	readonly raws: ReadonlyArray<{ prompt: unknown; system: unknown; recordId: unknown } | undefined>;
}

export interface CallResult {
	/** The outcome of every item sent (rejected items have none: `CallInput.rejected` says why). */
	readonly outcomes: Outcome[];
	readonly stats: RunStats;
	readonly summary: string;
	/** For the log and the hint: answers not reused, a limit that failed meanwhile. */
	readonly warnings: string[];
}
