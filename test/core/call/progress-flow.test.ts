import { describe, expect, it } from 'vitest';

import { formatFlow, formatProgress, formatSummary } from '../../../core/call/progress';
import { emptyStats } from '../../../core/call/runner';

describe('progress line and hint: where the rate settled', () => {
	it('says nothing when the run holds its configured rate alone', () => {
		const s = emptyStats(10, 0);
		s.flow = {
			settledRpm: 1200,
			configuredRpm: 1200,
			lowestConfiguredRpm: 1200,
			sharedWith: 0,
			cuts: 0,
		};
		expect(formatFlow(s)).toBe('');
		expect(formatSummary(s, 1000)).not.toContain('settled');
	});

	it('names the learned provider limit when it is below the configured one', () => {
		const s = emptyStats(10, 0);
		s.flow = {
			settledRpm: 1180,
			configuredRpm: 2400,
			lowestConfiguredRpm: 2400,
			sharedWith: 0,
			learnedRpm: 1200,
			cuts: 0,
		};
		expect(formatFlow(s)).toBe(
			'settled at 1,180 RPM of 2,400 configured: the provider limits lower (its headers say 1,200 RPM)',
		);
		expect(formatProgress(s, 1000)).toContain('· settled at 1,180 RPM of 2,400 configured');
		expect(formatSummary(s, 1000)).toContain('settled at 1,180 RPM of 2,400 configured');
	});

	it('says when 429s cut the rate, and when another workflow shares the credential at a lower limit', () => {
		const s = emptyStats(10, 0);
		s.flow = {
			settledRpm: 600,
			configuredRpm: 1200,
			lowestConfiguredRpm: 1200,
			sharedWith: 0,
			cuts: 3,
		};
		expect(formatFlow(s)).toBe(
			'settled at 600 RPM of 1,200 configured: the provider limits lower (429s)',
		);
		s.flow = {
			settledRpm: 500,
			configuredRpm: 1200,
			lowestConfiguredRpm: 500,
			sharedWith: 1,
			cuts: 0,
		};
		expect(formatFlow(s)).toBe(
			'settled at 500 RPM of 1,200 configured: another execution on this credential and model set a lower limit · shares the budget with 1 other execution in this n8n process using the same credential, base URL and model: the lowest limit set among them applies, 500 RPM',
		);
	});

	it('names Redis and the other workers when the budget is shared across processes', () => {
		const s = emptyStats(10, 0);
		s.flow = {
			settledRpm: 500,
			configuredRpm: 1200,
			lowestConfiguredRpm: 500,
			sharedWith: 0,
			sharedThrough: 'redis',
			cuts: 0,
		};
		expect(formatFlow(s)).toBe(
			'settled at 500 RPM of 1,200 configured: another execution on this credential and model set a lower limit · shares the budget through Redis with other executions using the same credential, base URL and model (on any worker or n8n process using this Redis): the lowest limit set among them applies, 500 RPM',
		);
	});

	it('reports a lowered concurrency, outage pauses and answers kept after a stop', () => {
		const s = emptyStats(10, 0);
		s.concurrency = { limit: 6, ceiling: 16, cuts: 2 };
		s.circuitOpenings = 1;
		s.keptAfterStop = 3;
		expect(formatFlow(s)).toBe('');
		s.flow = {
			settledRpm: 1200,
			configuredRpm: 1200,
			lowestConfiguredRpm: 1200,
			sharedWith: 0,
			cuts: 0,
		};
		expect(formatFlow(s)).toBe('6 of 16 requests in flight · paused for 1 provider outage');
		expect(formatSummary(s, 1000)).toContain('3 answers in flight at the stop were kept');
	});
});
