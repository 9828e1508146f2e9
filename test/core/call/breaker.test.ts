import { describe, expect, it } from 'vitest';

import { CircuitBreaker } from '../../../core/call/breaker';
import { FakeClock } from '../../helpers/fake-clock';

function fill(b: CircuitBreaker, pattern: Array<'ok' | 'server_error'>, itemFrom = 0): boolean {
	let open = false;
	pattern.forEach((code, k) => (open = b.record(code, false, itemFrom + k)));
	return open;
}

describe('CircuitBreaker (outages only)', () => {
	it('stays closed below 20 counted requests, whatever their share', () => {
		const b = new CircuitBreaker({}, new FakeClock());
		expect(fill(b, Array(19).fill('server_error'))).toBe(false);
		expect(b.record('server_error', false, 19)).toBe(true);
		expect(b.state).toBe('open');
	});

	it('opens at 50 % of the window, not at 45 %', () => {
		const b = new CircuitBreaker({}, new FakeClock());
		// 40 outcomes: 18 failures (45 %) stay closed
		const pattern = Array.from({ length: 40 }, (_, i) =>
			i % 20 < 18 && i % 2 === 0 ? 'server_error' : 'ok',
		) as Array<'ok' | 'server_error'>;
		expect(fill(b, pattern)).toBe(false);
		expect(b.failureShare).toBeCloseTo(0.45);
		// each new failure pushes the oldest outcome out of the 40-wide window: 19 of 40, then 20
		expect(fill(b, ['server_error', 'server_error'], 100)).toBe(false);
		expect(b.failureShare).toBeCloseTo(19 / 40);
		expect(fill(b, ['server_error', 'server_error'], 200)).toBe(true);
	});

	it('does not count 429s, refusals, malformed output or bad input', () => {
		const b = new CircuitBreaker({}, new FakeClock());
		for (let i = 0; i < 100; i++) {
			for (const code of [
				'rate_limited',
				'content_filter',
				'malformed_output',
				'invalid_request',
				'schema_violation',
			] as const)
				expect(b.record(code, false, i)).toBe(false);
		}
		expect(b.failureShare).toBe(0);
		expect(fill(b, Array(20).fill('timeout'))).toBe(true); // timeouts and connection errors do
	});

	it('a few items that always fail are not an outage', () => {
		const b = new CircuitBreaker({}, new FakeClock());
		for (let round = 0; round < 10; round++)
			for (let item = 0; item < 5; item++)
				expect(b.record('server_error', false, item)).toBe(false);
		expect(b.failureShare).toBe(1);
		expect(fill(b, Array(5).fill('server_error'), 100)).toBe(true); // 10 different items
	});

	it('forgets outcomes older than the window', async () => {
		const clock = new FakeClock();
		const b = new CircuitBreaker({ windowMs: 10_000 }, clock);
		fill(b, Array(15).fill('server_error'));
		await clock.advance(10_000);
		expect(fill(b, Array(10).fill('server_error'), 50)).toBe(false);
	});

	it('admits nobody while open, then exactly one probe; success closes it and wakes everyone', async () => {
		const clock = new FakeClock();
		const b = new CircuitBreaker({ cooldownMs: 5_000 }, clock);
		fill(b, Array(20).fill('connection'));
		const admitted: Array<{ who: number; how: string; at: number }> = [];
		const waiters = [0, 1, 2].map((who) =>
			b.admit().then((how) => admitted.push({ who, how, at: clock.now() })),
		);
		await clock.advance(4_999);
		expect(admitted).toEqual([]);
		await clock.advance(1);
		expect(admitted).toEqual([{ who: 0, how: 'probe', at: 5_000 }]);
		expect(b.state).toBe('half-open');
		await clock.advance(300);
		expect(admitted).toHaveLength(1); // the others wait for the probe's answer
		b.record('ok', true);
		await clock.advance(0);
		await Promise.all(waiters);
		expect(admitted.slice(1)).toEqual([
			{ who: 1, how: 'go', at: 5_300 },
			{ who: 2, how: 'go', at: 5_300 },
		]);
		expect(b.state).toBe('closed');
	});

	it('a failed probe doubles the wait (up to the maximum)', async () => {
		const clock = new FakeClock();
		const b = new CircuitBreaker({ cooldownMs: 1_000, maxCooldownMs: 4_000 }, clock);
		fill(b, Array(20).fill('server_error'));
		const probes: number[] = [];
		for (let k = 0; k < 5; k++) {
			const p = b.admit();
			await clock.runAll(60_000);
			expect(await p).toBe('probe');
			probes.push(clock.now());
			b.record('server_error', true);
		}
		expect(probes).toEqual([1_000, 3_000, 7_000, 11_000, 15_000]);
	});

	it('expires after the outage time: the run may then stop with circuit_open', async () => {
		const clock = new FakeClock();
		const b = new CircuitBreaker({ outageMs: 60_000 }, clock);
		fill(b, Array(20).fill('server_error'));
		let verdict: string | undefined;
		for (;;) {
			const p = b.admit();
			await clock.runAll(120_000);
			verdict = await p;
			if (verdict !== 'probe') break;
			b.record('server_error', true);
		}
		expect(verdict).toBe('expired');
		expect(clock.now()).toBe(60_000); // the last probe is timed to the deadline
		expect(b.outageLastedMs).toBe(60_000);
	});

	it('validates its options', () => {
		expect(() => new CircuitBreaker({ threshold: 0 })).toThrow('Expected `threshold`');
		expect(() => new CircuitBreaker({ minSamples: 50, windowSize: 40 })).toThrow(
			'Expected `minSamples`',
		);
		expect(() => new CircuitBreaker({ outageMs: -1 })).toThrow('Expected `outageMs`');
	});
});
