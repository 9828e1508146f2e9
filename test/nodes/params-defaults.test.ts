import { describe, expect, it } from 'vitest';

import { RETRYABLE_CODES } from '../../core/types';
import { readConfig as readReportConfig } from '../../nodes/BatchReport/params';
import { readPolicy } from '../../nodes/RouteFailures/params';
import { readConfig as readValidateConfig } from '../../nodes/ValidateOutput/params';
import { mockExecute } from '../helpers/mock-execute';

const unset = () => mockExecute({ items: [{}], parameters: {} }).fns;

describe('parameters not set take the defaults the editor shows', () => {
	it('Validate Output', () => {
		expect(readValidateConfig(unset())).toEqual({
			field: 'llm.output',
			textField: 'llm.text',
			parsedField: 'llm.output',
			schema: undefined,
			confidence: undefined,
			validationField: 'validation',
			attemptsField: 'llm.attempts',
		});
	});

	it('Route Failures', () => {
		const policy = readPolicy(unset());
		expect({
			...policy,
			retryCodes: [...policy.retryCodes].sort(),
			filteredCodes: [...policy.filteredCodes],
		}).toEqual({
			maxRetries: 3,
			retryCodes: [...RETRYABLE_CODES].sort(),
			filteredCodes: ['content_filter'],
			baseDelayMs: 1000,
			maxDelayMs: 60000,
			errorField: 'error',
			retryField: 'retry',
		});
	});

	it('Batch Report: no alert threshold unless one is added', () => {
		expect(readReportConfig(unset())).toEqual({
			emitWhen: 'runComplete',
			projection: undefined,
			thresholds: { minSuccessRate: undefined, maxErrorShare: undefined, maxCostUsd: undefined },
			fields: {
				resultField: 'llm',
				errorField: 'error',
				validationField: 'validation',
				retryField: 'retry',
				runField: 'batchRun',
				filteredCodes: new Set(['content_filter']),
			},
		});
	});
});
