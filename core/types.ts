/**
 * The shared vocabulary of the package: the item contract, the error taxonomy and the
 * injected clock. Every node and every core module speaks these types; change them only
 * with every consumer (docs/engine.md lists the item contract, the README the error codes).
 */

/** One list of error codes, used by every node. */
export const ERROR_CODES = [
	'rate_limited',
	// OpenAI Flex: no capacity for the request right now (429, not billed): a wait, not a failure.
	'resource_unavailable',
	'server_error',
	'timeout',
	'connection',
	'quota_exhausted',
	'auth',
	'invalid_request',
	// The provider does not serve the model (retired, renamed, no access): nothing more is sent to it.
	'model_not_found',
	'content_filter',
	'truncated',
	'malformed_output',
	'schema_violation',
	'expired',
	'canceled',
	'budget_exceeded',
	// Beyond the providers' own failures: bad input caught before any call, and a run
	// stopped by the circuit breaker (items never sent).
	'invalid_input',
	'circuit_open',
	'duplicate',
	// A run stopped for a reason of its own (items not sent): the ledger could not store
	// results, the shared limit store (Redis) went away with "Stop the Run", or too many of
	// the last answered items failed for a reason a retry does not fix (Stop When Failures
	// Exceed). Each is retryable once the cause is fixed; `canceled` is a real cancellation.
	'ledger_unavailable',
	'limit_store_unavailable',
	'stopped_failure_rate',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

/** Codes that a later attempt may fix on its own. */
export const RETRYABLE_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
	'rate_limited',
	'resource_unavailable',
	'server_error',
	'timeout',
	'connection',
	'malformed_output',
	'truncated',
	'expired',
]);

export type ProviderName = 'openai' | 'anthropic' | 'gemini';

/**
 * OpenAI's processing tiers (`service_tier`): `auto` lets the project's setting decide, `flex`
 * is slower and cheaper (it may answer 429 resource_unavailable), `priority` faster and dearer.
 */
export const SERVICE_TIERS = ['auto', 'default', 'flex', 'priority'] as const;
export type ServiceTier = (typeof SERVICE_TIERS)[number];

export interface Usage {
	/** Every input token the provider processed, cache reads and writes included. */
	inputTokens: number;
	outputTokens: number;
	/** Of `inputTokens`: served from the provider's prompt cache (priced lower). */
	cachedInputTokens?: number;
	/** Of `inputTokens`: written to the prompt cache (Anthropic prices writes higher). */
	cacheWriteTokens?: number;
	/** Of `cacheWriteTokens`: written with the 1-hour TTL (Anthropic: 2x instead of 1.25x). */
	cacheWrite1hTokens?: number;
	/**
	 * The tier the provider says it billed these tokens at, when not the standard one (OpenAI's
	 * `service_tier` of the answer: flex, priority). Absent: the standard price.
	 */
	serviceTier?: string;
}

/** One problem found in an input or an output, zod-style: data, not a thrown error. */
export interface Issue {
	path: string;
	message: string;
	code?: string;
}

/** `json.error` of an item on a failure output. */
export interface ItemError {
	code: ErrorCode;
	message: string;
	retryable: boolean;
	attempts: number;
	status?: number;
	provider?: ProviderName;
	requestId?: string;
	issues?: Issue[];
	/** The answer that failed validation (malformed_output, schema_violation): paid, so kept for a re-ask. */
	answer?: string;
	/** Usage of the answers paid for this item that could not be used (e.g. failed the schema). */
	usage?: Usage;
	/** Their cost; undefined when the model's price is unknown. */
	costUsd?: number;
	/** Earlier errors of the same record (Route Failures appends here). */
	history?: Array<{ code: ErrorCode; message: string; at: string }>;
}

/** The field (default `llm`) an item gains in LLM Batch Call. */
export interface LlmResult {
	recordId: string;
	/** Parsed JSON when structured output was asked for, else the text. */
	output: unknown;
	text: string;
	model: string;
	provider: ProviderName;
	finishReason: string;
	usage: Usage;
	/** Undefined when the model's price is unknown. */
	costUsd?: number;
	attempts: number;
	latencyMs: number;
	cached: boolean;
	promptHash: string;
	/** Hash of the system prompt + prompt text alone (see core/hash.ts inputHash). */
	inputHash?: string;
	completedAt: string;
	/** Records that shared this request (multi-item prompts); absent for a single record. */
	groupSize?: number;
	/**
	 * A grouped record: the usage its request would have had alone (the shared instructions
	 * repeated, its own answer), estimated from the grouped request's counted tokens. The naive
	 * counterfactual of Batch Report's cost table.
	 */
	soloUsage?: Pick<Usage, 'inputTokens' | 'outputTokens'>;
	/** Follow-up turns that sent the validation errors back (re-ask) for this answer. */
	reasks?: number;
	/** Set when a fallback model answered instead of the primary. */
	fallback?: number;
	/** The processing tier that answered (OpenAI `service_tier`), when a tier was asked for or reported. */
	serviceTier?: string;
}

/** Time is injected so tests drive a fake clock and assert exact delays. */
export interface Clock {
	now(): number;
	sleep(ms: number, signal?: AbortSignal): Promise<void>;
	/** Uniform in [0, 1). */
	random(): number;
}

/**
 * Names an item field that a node writes (LLM Batch Call's Result Field) may not take:
 * `error` marks failures downstream, the item's own keys, and anything on Object.prototype
 * (`__proto__`, `constructor`, `toString`…) that would break or hijack the object.
 */
const RESERVED_FIELDS: ReadonlySet<string> = new Set([
	'error',
	'json',
	'binary',
	'pairedItem',
	'prototype',
	...Object.getOwnPropertyNames(Object.prototype),
]);

export function isReservedField(name: string): boolean {
	return RESERVED_FIELDS.has(name.trim());
}
