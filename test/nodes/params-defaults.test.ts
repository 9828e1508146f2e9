import { describe, expect, it } from 'vitest';

import { RETRYABLE_CODES } from '../../core/types';
import { operationProperties as ledgerOperationProperties } from '../../nodes/BatchLedger/actions/router';
import { readConfig as readLedgerConfig } from '../../nodes/BatchLedger/params';
import * as estimate from '../../nodes/BatchPrepare/actions/estimate.operation';
import * as prepare from '../../nodes/BatchPrepare/actions/prepare.operation';
import { readEstimateConfig, readPrepareConfig } from '../../nodes/BatchPrepare/params';
import * as submit from '../../nodes/LlmBatchJob/actions/submit.operation';
import { readSubmitConfig } from '../../nodes/LlmBatchJob/params';
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
			costTable: {},
			emitWhen: 'runComplete',
			chartProperty: 'chart',
			projection: undefined,
			thresholds: { minSuccessRate: undefined, maxErrorShare: undefined, maxCostUsd: undefined },
			fields: {
				resultField: 'llm',
				errorField: 'error',
				validationField: 'validation',
				retryField: 'retry',
				runField: 'batchRun',
				filteredCodes: new Set(['content_filter']),
				laterResultFields: [],
			},
		});
	});
});

describe('Batch Prepare parameters not set take the defaults its operations show', () => {
	it('Prepare Items', () => {
		expect(readPrepareConfig(unset(), prepare.description)).toEqual({
			recordId: { mode: 'hash', fields: [] },
			idField: 'recordId',
			dedupe: 'none',
			contentFields: [],
			rules: [],
			itemSchema: undefined,
			sample: { mode: 'none' },
			chunking: { mode: 'none' },
			chunkOutput: 'perItem',
			chunkField: 'chunk',
			runField: 'batchRun',
		});
	});

	it('Estimate Cost', () => {
		expect(readEstimateConfig(unset(), estimate.description)).toEqual({
			model: 'gpt-4o-mini',
			systemPrompt: undefined,
			outputTokensPerItem: 100,
			rpm: 500,
			tpm: 200000,
			concurrency: 8,
			avgLatencyMs: 0,
			priceOverrides: undefined,
			perItem: false,
		});
	});
});

describe('LLM Batch Job Submit parameters not set', () => {
	it('take the defaults Submit shows; Temperature not added leaves the provider its own', () => {
		const m = mockExecute({ items: [{}], parameters: { model: 'm' } });
		expect(readSubmitConfig(m.fns, submit.description)).toEqual({
			model: 'm',
			outputFormat: 'text',
			options: {
				attachments: '',
				maxTokens: 1024,
				contextWindow: 0,
				batchSize: 0,
				maxSubmissions: 3,
				keepFiles: true,
				maxRecordTokensPerRequest: 0,
				promptCaching: '5m',
				recordsPerRequest: 1,
			},
		});
	});
});

describe('Batch Ledger parameters not set take the defaults each operation shows', () => {
	const read = (operation: string) =>
		readLedgerConfig(
			mockExecute({ items: [{}], parameters: { operation, ledgerJob: 'j' } }).fns,
			ledgerOperationProperties,
		);
	const store = { ledgerStore: 'sqlite', ledgerSqlitePath: '', ledgerJob: 'j' };

	it('every operation', () => {
		expect([
			read('skipCompleted'),
			read('recordResults'),
			read('getFailed'),
			read('requeueStale'),
			read('exportJob'),
			read('stats'),
			read('deleteJob'),
		]).toEqual([
			{
				operation: 'skipCompleted',
				...store,
				includeResult: true,
				resultField: 'llm',
				registerPending: true,
			},
			{ operation: 'recordResults', ...store, resultField: 'llm' },
			{ operation: 'getFailed', ...store, limit: 0 },
			{ operation: 'requeueStale', ...store, olderThanMinutes: 30, requeue: true },
			{ operation: 'exportJob', ...store, status: 'all', limit: 0 },
			{ operation: 'stats', ...store, claimReport: false, jobChunks: 0, chunk: '' },
			{ operation: 'deleteJob', ...store },
		]);
	});
});
