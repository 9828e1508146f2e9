import { describe, expect, it } from 'vitest';

import { buildReport, toEntry } from '../../../core/report';
import { projectionMarkdown, projectRun } from '../../../core/report/projection';

const T0 = Date.parse('2026-01-01T00:00:00Z');
const ok = (i: number, attempts = 1) => ({
	llm: {
		recordId: `r${i}`,
		model: 'gpt-4o-mini',
		usage: { inputTokens: 100, outputTokens: 20 },
		costUsd: 0.001,
		attempts,
		latencyMs: 500,
		completedAt: new Date(T0 + i * 1000).toISOString(),
	},
});
const fail = (code: string, attempts = 3) => ({ error: { code, attempts } });

describe('sample gate: projecting the full run', () => {
	// 8 successes (one needed 2 attempts), 1 server_error, 1 rejected input: a 10-item sample
	const sample = buildReport(
		[
			...Array.from({ length: 8 }, (_, i) => ok(i, i === 0 ? 2 : 1)),
			fail('server_error'),
			fail('invalid_input', 0),
		].map((j) => toEntry(j)),
		{ startedAt: new Date(T0).toISOString(), finishedAt: T0 + 60_000 },
	);

	it('scales cost, tokens, outcomes and requests from the sample, bounded by the rate limit', () => {
		const p = projectRun(sample, { fullItems: 10_000, requestsPerMinute: 500, budgetUsd: 5 });
		expect(p).toEqual({
			items: 10_000,
			sampleItems: 10,
			costUsd: 8,
			tokens: { input: 800_000, output: 160_000 },
			// 9 processed + (1 extra attempt + 2 for the failure) in-call retries per 10 items
			requests: 12_000,
			outcomes: { success: 8000, review: 0, invalid: 0, failed: 1000, filtered: 0, rejected: 1000 },
			byErrorCode: { server_error: 1000, invalid_input: 1000 },
			// throughput 9/min in the sample -> 1,000 min; the limit alone would allow 24 min
			durationMs: 1000 * 60_000,
			budgetUsd: 5,
			overBudget: true,
			costUnknownShare: 0,
		});
		expect(projectionMarkdown(p)).toBe(
			'| projected full run (10000 items from 10) | $8.0000, 960000 tokens, 12000 requests, 1000 min — **over the budget of $5** |',
		);
	});

	it('is within budget, or has no verdict without one', () => {
		expect(projectRun(sample, { fullItems: 100, budgetUsd: 5 }).overBudget).toBe(false);
		expect(projectRun(sample, { fullItems: 100 }).overBudget).toBeNull();
	});

	it("counts Batch Prepare's rejections exactly and scales only the drawn sample", () => {
		// 600 tickets: 30 invalid (Batch Prepare checks all of them), 50 drawn from the other
		// 570, 520 left out of the sample.
		const rejected = (code: string) => ({
			error: { code: 'invalid_input', attempts: 0, issues: [{ path: '/', code }] },
		});
		const report = buildReport(
			[
				...Array.from({ length: 50 }, (_, i) => ok(i)),
				...Array.from({ length: 30 }, () => rejected('required')),
				...Array.from({ length: 520 }, () => rejected('not_sampled')),
			].map((j) => toEntry(j)),
			{ startedAt: new Date(T0).toISOString(), finishedAt: T0 + 60_000 },
		);
		const p = projectRun(report, { fullItems: 600, budgetUsd: 1 });
		// 570 items to call, at the sample's $0.001 each (not 600 / 80 of the sample's cost)
		expect(p.costUsd).toBeCloseTo(0.57, 6);
		expect(p.requests).toBe(570);
		expect(p.outcomes).toMatchObject({ success: 570, rejected: 30 });
		expect(p.byErrorCode).toEqual({ invalid_input: 30 });
		expect(p.tokens).toEqual({ input: 57_000, output: 11_400 });
	});
});
