/** A run in which nothing succeeded always alerts, thresholds or not. */
import { describe, expect, it } from 'vitest';

import { buildReport, toEntry } from '../../../core/report';

const T0 = Date.parse('2025-01-01T00:00:00.000Z');

describe('Batch Report alerts', () => {
	it('alerts when nothing succeeded (every record rejected, or every one failed)', () => {
		const rejected = buildReport(
			[toEntry({ error: { code: 'duplicate' } }), toEntry({ error: { code: 'invalid_input' } })],
			{ finishedAt: T0 },
		);
		expect(rejected.successRate).toBeNull();
		expect(rejected.alerts).toEqual([
			{
				rule: 'noSuccess',
				threshold: 1,
				actual: 0,
				message: 'No item succeeded (0 of 2)',
			},
		]);
		expect(rejected.markdown).toContain('**ALERT:** No item succeeded (0 of 2)');

		const failed = buildReport([toEntry({ error: { code: 'server_error' } })], {
			finishedAt: T0,
			thresholds: { minSuccessRate: 0.5 },
		});
		expect(failed.alerts.map((a) => a.rule)).toEqual(['noSuccess', 'minSuccessRate']);

		// One success: no such alert; no items at all: nothing to report on.
		const one = buildReport(
			[toEntry({ llm: { output: 'x' } }), toEntry({ error: { code: 'duplicate' } })],
			{
				finishedAt: T0,
			},
		);
		expect(one.alerts).toEqual([]);
		expect(buildReport([], { finishedAt: T0 }).alerts).toEqual([]);
	});
});
