import { describe, expect, it } from 'vitest';

import { evaluateWatchdog, validateRules } from '../../../core/status/watchdog';
import { FakeClock } from '../../helpers/fake-clock';
import { T0, iso, runningStatus } from './fixture';

const MINUTE = 60_000;

describe('watchdog: success rate', () => {
	it('alerts when the success rate is under the threshold, naming the job and the commonest failure', () => {
		const clock = new FakeClock(T0 + 605_000);
		const alerts = evaluateWatchdog(runningStatus(), { minSuccessRate: 0.95 }, clock.now());
		expect(alerts).toEqual([
			{
				rule: 'minSuccessRate',
				job: 'tickets-2026-12',
				threshold: 0.95,
				actual: 0.9,
				lastProgressAt: iso(600_000),
				message:
					'Job tickets-2026-12: success rate 90.0 % is below 95.0 % after 600 items; most failures: schema_violation (45)',
			},
		]);
	});

	it('waits for the minimum of done items before judging, and does not alert at the threshold itself', () => {
		const now = T0 + 605_000;
		const early = runningStatus({ done: 49, succeeded: 10, failed: 39, successRate: 10 / 49 });
		expect(evaluateWatchdog(early, { minSuccessRate: 0.95 }, now)).toEqual([]);
		expect(evaluateWatchdog(early, { minSuccessRate: 0.95, minDone: 49 }, now)).toHaveLength(1);
		const atThreshold = runningStatus({ successRate: 0.95 });
		expect(evaluateWatchdog(atThreshold, { minSuccessRate: 0.95 }, now)).toEqual([]);
	});
});

describe('watchdog: time per item', () => {
	it('alerts when time per item has doubled against the job start', () => {
		const status = runningStatus({ msPerItem: { atStart: 1000, now: 2000 } });
		expect(evaluateWatchdog(status, { slowdownFactor: 2 }, T0 + 605_000)).toEqual([
			{
				rule: 'slowdown',
				job: 'tickets-2026-12',
				threshold: 2,
				actual: 2,
				lastProgressAt: iso(600_000),
				message:
					'Job tickets-2026-12: time per item is 2000 ms, 2.0× the 1000 ms of its start (alert at 2×)',
			},
		]);
	});

	it('stays quiet just under the factor and while either time is unknown', () => {
		const now = T0 + 605_000;
		const rules = { slowdownFactor: 2 };
		for (const msPerItem of [
			{ atStart: 1000, now: 1999 },
			{ atStart: null, now: 5000 },
			{ atStart: 1000, now: null },
			{ atStart: 0, now: 5000 },
		])
			expect(evaluateWatchdog(runningStatus({ msPerItem }), rules, now)).toEqual([]);
	});
});

describe('watchdog: no progress', () => {
	it('alerts once the job has made no progress for N minutes, naming the job and the last progress time', async () => {
		const clock = new FakeClock(T0 + 600_000);
		const rules = { stallMinutes: 10 };
		const status = runningStatus();
		await clock.advance(10 * MINUTE - 1);
		expect(evaluateWatchdog(status, rules, clock.now())).toEqual([]);
		await clock.advance(1);
		expect(evaluateWatchdog(status, rules, clock.now())).toEqual([
			{
				rule: 'stalled',
				job: 'tickets-2026-12',
				threshold: 10,
				actual: 10,
				lastProgressAt: iso(600_000),
				message:
					'Job tickets-2026-12: no progress for 10m 0s (last progress 2026-12-06 10:10:00 UTC; 600 of 2000 done)',
			},
		]);
	});

	it('on a 5-minute schedule, alerts at the first run at least N minutes after the last progress', async () => {
		// The job stops moving at 10:10:00; the schedule runs at 10:12, 10:17, 10:22, …
		const clock = new FakeClock(T0 + 12 * MINUTE);
		const status = runningStatus({ state: 'stalled' });
		const firstAlertAt: string[] = [];
		for (let run = 0; run < 6; run++) {
			if (evaluateWatchdog(status, { stallMinutes: 10 }, clock.now()).length > 0)
				firstAlertAt.push(new Date(clock.now()).toISOString());
			await clock.advance(5 * MINUTE);
		}
		// 10 minutes after 10:10 is 10:20: the 10:22 run alerts, within one period.
		expect(firstAlertAt[0]).toBe('2026-12-06T10:22:00.000Z');
		expect(firstAlertAt).toHaveLength(4);
	});

	it('counts from the start of a job that never finished an item', () => {
		const status = runningStatus({ done: 0, succeeded: 0, failed: 0, lastProgressAt: null });
		const alerts = evaluateWatchdog(status, { stallMinutes: 10 }, T0 + 10 * MINUTE);
		expect(alerts.map((a) => [a.rule, a.lastProgressAt])).toEqual([['stalled', iso(0)]]);
	});

	it('does not call a finished job, an unknown job or a job with nothing left stalled', () => {
		const late = T0 + 600 * MINUTE;
		const rules = { stallMinutes: 10 };
		expect(evaluateWatchdog(runningStatus({ state: 'finished' }), rules, late)).toEqual([]);
		expect(evaluateWatchdog(runningStatus({ state: 'not_found' }), rules, late)).toEqual([]);
		const drained = runningStatus({ pending: 0, processing: 0 });
		expect(evaluateWatchdog(drained, rules, late)).toEqual([]);
	});
});

describe('watchdog rules', () => {
	it('reports every rule together, in a fixed order', () => {
		const status = runningStatus({ msPerItem: { atStart: 500, now: 1500 } });
		const alerts = evaluateWatchdog(
			status,
			{ minSuccessRate: 0.95, slowdownFactor: 2, stallMinutes: 5 },
			T0 + 20 * MINUTE,
		);
		expect(alerts.map((a) => a.rule)).toEqual(['minSuccessRate', 'slowdown', 'stalled']);
	});

	it('judges nothing without rules', () => {
		const status = runningStatus({ msPerItem: { atStart: 500, now: 5000 }, successRate: 0 });
		expect(evaluateWatchdog(status, {}, T0 + 600 * MINUTE)).toEqual([]);
	});

	it('names every rule set out of range', () => {
		expect(
			validateRules({ minSuccessRate: 0.95, minDone: 10, slowdownFactor: 2, stallMinutes: 15 }),
		).toEqual([]);
		expect(
			validateRules({ minSuccessRate: 95, minDone: -1, slowdownFactor: 1, stallMinutes: 0 }),
		).toEqual([
			'minSuccessRate must be 0..1',
			'minDone must be a whole number ≥ 0',
			'slowdownFactor must be above 1',
			'stallMinutes must be above 0',
		]);
	});
});
