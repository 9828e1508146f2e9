import { describe, expect, it } from 'vitest';

import { renderStatusPage } from '../../../core/status/page';
import { presentJobStatus } from '../../../core/status/present';
import { evaluateWatchdog } from '../../../core/status/watchdog';
import { T0, runningStatus } from './fixture';

describe('Job Status output', () => {
	const status = runningStatus();
	const now = T0 + 30 * 60_000;

	it('is the status alone when no format or rule is asked for', () => {
		expect(presentJobStatus(status, { now })).toEqual(status);
	});

	it("adds the watchdog's alerts when a rule is set, an empty list when none fires", () => {
		const rules = { minSuccessRate: 0.95, stalled: true };
		const stalled = { ...status, state: 'stalled' as const };
		const out = presentJobStatus(stalled, { rules, now });
		expect(out).toEqual({ ...stalled, alerts: evaluateWatchdog(stalled, rules, now) });
		expect(out.alerts?.map((a) => a.rule)).toEqual(['minSuccessRate', 'stalled']);
		expect(presentJobStatus(status, { rules: { slowdownFactor: 2 }, now }).alerts).toEqual([]);
		expect(presentJobStatus(status, { rules: { minDone: 5 }, now })).not.toHaveProperty('alerts');
	});

	it('adds the status page for the HTML format', () => {
		const out = presentJobStatus(status, { format: 'html', refreshSeconds: 5, now });
		expect(out).toEqual({ ...status, html: renderStatusPage(status, { refreshSeconds: 5 }) });
		expect(out.html).toContain('data-refresh="5"');
	});
});
