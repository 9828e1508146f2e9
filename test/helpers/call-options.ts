import type { CallOptions } from '../../core/call/types';

/** LLM Batch Call's engine options for engine-level tests: small, no progress log, nothing optional on. */
export const TEST_CALL_OPTIONS: CallOptions = {
	maxTokens: 50,
	maxAttempts: 3,
	timeoutSeconds: 30,
	contextWindow: 0,
	maxCostUsd: 0,
	budgetScope: 'run',
	circuitThreshold: 50,
	outageMinutes: 10,
	onCircuitOpen: 'pause',
	maxRetryAfterSeconds: 60,
	progressIntervalSeconds: 0,
	responseCache: 'off',
	recordsPerRequest: 1,
	maxRecordTokensPerRequest: 0,
	promptCaching: 'off',
	maxReasks: 0,
	fixInvalidBy: 'reask',
};
