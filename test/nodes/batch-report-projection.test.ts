import type { IDataObject } from 'n8n-workflow';
import { describe, expect, it } from 'vitest';

import { executeBatchReport } from '../../nodes/BatchReport/execute';
import { FakeClock } from '../helpers/fake-clock';
import { mockExecute } from '../helpers/mock-execute';

const T0 = Date.parse('2025-03-01T08:00:00.000Z');
const SAMPLE: IDataObject[] = Array.from({ length: 4 }, (_, i) => ({
	llm: {
		usage: { inputTokens: 50, outputTokens: 5 },
		costUsd: 0.5,
		attempts: 1,
		latencyMs: 100,
		completedAt: new Date(T0 + 1000 * (i + 1)).toISOString(),
	},
}));

describe('Batch Report: Project Full Run (the sample gate)', () => {
	it('puts the projection on the Report item and a line in the Markdown', async () => {
		const m = mockExecute({
			items: SAMPLE,
			parameters: {
				emitWhen: 'eachRun',
				projection: { fullItems: 400, budgetUsd: 100, requestsPerMinute: 60 },
			},
		});
		const [[report]] = await executeBatchReport(m.fns, { clock: new FakeClock(T0 + 5000) });
		expect(report.json.projection).toEqual({
			items: 400,
			sampleItems: 4,
			costUsd: 200,
			tokens: { input: 20_000, output: 2000 },
			requests: 400,
			outcomes: { success: 400, review: 0, invalid: 0, failed: 0, filtered: 0, rejected: 0 },
			byErrorCode: {},
			// the 60 RPM limit: 400 requests take 6.7 min (the sample itself ran faster)
			durationMs: 400_000,
			budgetUsd: 100,
			overBudget: true,
			costUnknownShare: 0,
		});
		expect(report.json.markdown).toContain(
			'| projected full run (400 items from 4) | $200.0000, 22000 tokens, 400 requests, 7 min — **over the budget of $100** |',
		);
	});

	it('has no projection without Full Run Items', async () => {
		const m = mockExecute({ items: SAMPLE, parameters: { emitWhen: 'eachRun' } });
		const [[report]] = await executeBatchReport(m.fns, { clock: new FakeClock(T0 + 5000) });
		expect(report.json.projection).toBeUndefined();
	});
});
