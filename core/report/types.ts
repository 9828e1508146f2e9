/** The report Batch Report emits, its alert thresholds and alerts. */
import type { CostTable } from './cost-table';
import type { ReportOutcome } from './outcome';

export interface Report {
	runId: string | null;
	items: number;
	outcomes: Record<ReportOutcome, number>;
	byErrorCode: Record<string, number>;
	/** success / (items - rejected); null when nothing was processed. */
	successRate: number | null;
	retries: { items: number; trips: number; extraCallAttempts: number };
	tokens: { input: number; output: number; total: number };
	/**
	 * Prompt caching: input tokens served from the cache and written to it, and the money
	 * it saved (reads' discount minus writes' premium, at the built-in prices).
	 */
	cache: { readTokens: number; writeTokens: number; savedUsd: number };
	/**
	 * Answers served from the response cache (present when any): paid by the calls that
	 * stored them, so left out of `tokens` and `costUsd`; `savedUsd` is what they cost then.
	 */
	responseCache?: { items: number; savedUsd: number };
	/** Successful answers per model that gave them (the fallback chain shows here). */
	answersByModel: Record<string, number>;
	/** Of the rejected items: left out by a Batch Prepare sample (present when any). */
	notSampledItems?: number;
	costUsd: number;
	/** Items with a result but no known price. */
	costUnknownItems: number;
	/**
	 * Items answered through a provider batch API: what they cost, and what the same tokens
	 * would have cost in realtime (LLM Batch Call). Null when the run had none.
	 */
	batchApi: { items: number; costUsd: number; realtimeCostUsd: number; savedUsd: number } | null;
	/**
	 * Cost per correct answer, per model and in total, against naive (and another model
	 * alone when asked): see cost-table.ts. Its total also counts failures' paid answers
	 * (`error.costUsd`), which `costUsd` above leaves out. Null where the report has no items to price
	 * (a job report from the ledger's stats).
	 */
	costTable: CostTable | null;
	latencyMs: { p50: number | null; p95: number | null; max: number | null };
	startedAt: string | null;
	finishedAt: string;
	durationMs: number | null;
	/** Items that reached the model (all but rejected) per minute of duration. */
	throughputPerMin: number | null;
	markdown: string;
	alerts: Alert[];
}

export interface AlertThresholds {
	/** 0..1; alert when successRate is below. */
	readonly minSuccessRate?: number;
	/** 0..1; alert when one error code's share of processed items is above. */
	readonly maxErrorShare?: number;
	/** Alert when the run's cost is above. */
	readonly maxCostUsd?: number;
}

export interface Alert {
	/** `noSuccess`: nothing succeeded — raised whatever the thresholds. */
	rule: 'noSuccess' | 'minSuccessRate' | 'maxErrorShare' | 'maxCostUsd';
	threshold: number;
	actual: number;
	errorCode?: string;
	message: string;
}
