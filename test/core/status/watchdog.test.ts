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
	it('alerts on a stalled job, naming the job, its last progress time and how long it has been still', async () => {
		const clock = new FakeClock(T0 + 600_000);
		await clock.advance(10 * MINUTE);
		const alerts = evaluateWatchdog(
			runningStatus({ state: 'stalled' }),
			{ stalled: true },
			clock.now(),
		);
		expect(alerts).toEqual([
			{
				rule: 'stalled',
				job: 'tickets-2026-12',
				threshold: 0,
				actual: 10,
				lastProgressAt: iso(600_000),
				message:
					'Job tickets-2026-12: no progress for 10m 0s (last progress 2026-12-06 10:10:00 UTC; 600 of 2000 done)',
			},
		]);
	});

	it('on a 5-minute schedule, alerts from the first run that reads the job as stalled', async () => {
		// Job Status's window is 10 minutes: the job stops moving at 10:10 and reads as stalled
		// from 10:20; the schedule runs at 10:12, 10:17, 10:22, …
		const stallMs = 10 * MINUTE;
		const last = T0 + 10 * MINUTE;
		const clock = new FakeClock(T0 + 12 * MINUTE);
		const alertedAt: string[] = [];
		for (let run = 0; run < 6; run++) {
			const state = clock.now() - last > stallMs ? 'stalled' : 'running';
			const status = runningStatus({ state, checkedAt: new Date(clock.now()).toISOString() });
			if (evaluateWatchdog(status, { stalled: true }, clock.now()).length > 0)
				alertedAt.push(new Date(clock.now()).toISOString().slice(11, 16));
			await clock.advance(5 * MINUTE);
		}
		expect(alertedAt).toEqual(['10:22', '10:27', '10:32', '10:37']);
	});

	it('counts from the start of a job that never finished an item', () => {
		const status = runningStatus({
			state: 'stalled',
			done: 0,
			succeeded: 0,
			failed: 0,
			lastProgressAt: null,
		});
		const alerts = evaluateWatchdog(status, { stalled: true }, T0 + 10 * MINUTE);
		expect(alerts.map((a) => [a.rule, a.lastProgressAt, a.actual])).toEqual([
			['stalled', iso(0), 10],
		]);
	});

	it('stays quiet for a running, finished or unknown job, and when the rule is off', () => {
		const late = T0 + 600 * MINUTE;
		for (const state of ['running', 'finished', 'not_found'] as const)
			expect(evaluateWatchdog(runningStatus({ state }), { stalled: true }, late)).toEqual([]);
		expect(evaluateWatchdog(runningStatus({ state: 'stalled' }), {}, late)).toEqual([]);
	});
});

describe('watchdog rules', () => {
	it('reports every rule together, in a fixed order', () => {
		const status = runningStatus({ state: 'stalled', msPerItem: { atStart: 500, now: 1500 } });
		const alerts = evaluateWatchdog(
			status,
			{ minSuccessRate: 0.95, slowdownFactor: 2, stalled: true },
			T0 + 20 * MINUTE,
		);
		expect(alerts.map((a) => a.rule)).toEqual(['minSuccessRate', 'slowdown', 'stalled']);
	});

	it('judges nothing without rules', () => {
		const status = runningStatus({
			state: 'stalled',
			msPerItem: { atStart: 500, now: 5000 },
			successRate: 0,
		});
		expect(evaluateWatchdog(status, {}, T0 + 600 * MINUTE)).toEqual([]);
	});

	it('names every rule set out of range', () => {
		expect(
			validateRules({ minSuccessRate: 0.95, minDone: 10, slowdownFactor: 2, stalled: true }),
		).toEqual([]);
		expect(validateRules({ minSuccessRate: 95, minDone: -1, slowdownFactor: 1 })).toEqual([
			'minSuccessRate must be 0..1',
			'minDone must be a whole number ≥ 0',
			'slowdownFactor must be above 1',
		]);
	});
});
