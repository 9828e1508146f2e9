/**
 * What LLM Batch Call's heartbeat reports, read from the runners' live counters (the same
 * `RunStats` the progress line and the summary read: no second count). The primary's counters
 * hold the items; a fallback model's runner adds its retries and spend.
 */
import type { RunStats } from '../call/types';
import type { HeartbeatCounters } from '../ledger/heartbeat/types';

export function runCounters(
	primary: RunStats,
	fallbacks: readonly RunStats[] = [],
	total = primary.total,
): HeartbeatCounters {
	const all = [primary, ...fallbacks];
	const sum = (f: (s: RunStats) => number) => all.reduce((n, s) => n + f(s), 0);
	const failedByCode: Record<string, number> = {};
	for (const [code, n] of Object.entries(primary.failuresByCode)) if (n) failedByCode[code] = n;
	return {
		total,
		reused: primary.cached,
		// Answers reused from the ledger were done before: the execution's own work is the rest.
		done: Math.max(0, primary.done - primary.cached),
		succeeded: Math.max(0, primary.succeeded - primary.cached),
		failed: primary.failed,
		failedByCode,
		retries: sum((s) => s.retries),
		inputTokens: sum((s) => s.inputTokens),
		outputTokens: sum((s) => s.outputTokens),
		costUsd: sum((s) => s.costUsd),
	};
}
