/**
 * The vocabulary of a run (core/call/): what goes in (`RunItem`), what comes out (`Outcome`),
 * what is counted on the way (`RunStats`) and said on the way (`RunEvent`). Types only, and
 * the two constructors every stage shares, so no stage imports another for a type.
 */
import type { ConcurrencyReport } from './concurrency';
import type { FlowReport } from './controller';
import type { ChatRequest } from './providers/types';
import type { ErrorCode, ItemError, LlmResult, Usage } from '../types';

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
	return out;
}
