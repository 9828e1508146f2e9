import { describe, expect, it } from 'vitest';

import { readConfig } from '../../nodes/LlmBatchCall/params';
import { mockExecute } from '../helpers/mock-execute';

describe('LLM Batch Call parameters not set', () => {
	it('take the defaults the editor shows; Temperature not added leaves the provider its own', () => {
		const m = mockExecute({ items: [{}], parameters: { provider: 'openai', model: 'm' } });
		expect(readConfig(m.fns)).toEqual({
			provider: 'openai',
			model: 'm',
			outputFormat: 'text',
			concurrency: 8,
			requestsPerMinute: 500,
			tokensPerMinute: 200000,
			resultField: 'llm',
			shareLimitsThrough: 'process',
			redisUnavailable: 'fallback',
			redisFallbackShare: 25,
			ledgerStore: 'none',
			ledgerJob: '',
			ledgerSqlitePath: '',
			fallbackProvider: 'none',
			fallbackModels: '',
			options: {
				maxTokens: 1024,
				maxAttempts: 5,
				timeoutSeconds: 60,
				contextWindow: 0,
				maxCostUsd: 0,
				inputPricePer1M: -1,
				outputPricePer1M: -1,
				modelPrices: { price: [] },
				circuitThreshold: 50,
				outageMinutes: 10,
				maxRetryAfterSeconds: 60,
				onCircuitOpen: 'pause',
				progressIntervalSeconds: 10,
				outputFields: 'all',
				responseCache: 'off',
				recordsPerRequest: 1,
				maxRecordTokensPerRequest: 0,
				promptCaching: '5m',
				maxReasks: 1,
				fixInvalidBy: 'cheapest',
				budgetScope: 'run',
				serviceTier: 'auto',
				flexDeadlineMinutes: 0,
				flexTimeoutSeconds: 900,
				stopFailurePercent: 50,
				stopFailureWindow: 100,
			},
		});
	});

	it('an option set to nothing still takes its default; a set option wins', () => {
		const m = mockExecute({
			items: [{}],
			parameters: {
				provider: 'openai',
				model: 'm',
				options: { maxAttempts: undefined, temperature: 0.3, maxTokens: 77 },
			},
		});
		const { options } = readConfig(m.fns);
		expect([options.maxAttempts, options.temperature, options.maxTokens]).toEqual([5, 0.3, 77]);
	});
});
