import { inputPolicy } from '../../core/call/input';
import type { CallInput, CallOptions } from '../../core/call/types';

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

/** `n` tickets ("ticket i", record ID "ri") read as LLM Batch Call reads them, for `model`. */
export function ticketsInput(
	n: number,
	shape: { model: string; schema?: Record<string, unknown> },
): CallInput {
	const toItem = inputPolicy({
		provider: 'openai',
		scope: 'test',
		...shape,
		maxTokens: TEST_CALL_OPTIONS.maxTokens,
		contextWindow: 0,
	});
	const raws = Array.from({ length: n }, (_, i) => ({
		prompt: `ticket ${i}`,
		system: '',
		recordId: `r${i}`,
	}));
	return {
		total: n,
		items: raws.map((raw, i) => toItem(i, raw)) as CallInput['items'],
		rejected: new Map(),
		raws,
	};
}
