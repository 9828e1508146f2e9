import { describe, expect, it } from 'vitest';

import { FailureRateWatch, type Answered } from '../../../core/call/failure-rate';

const fail = (code: string, message = `${code} message`): Answered =>
	({ code, message }) as Answered;

/** Feeds `ends` and returns after how many the watch tripped (undefined: never). */
function tripAt(watch: FailureRateWatch, ends: Answered[]): number | undefined {
	for (const [k, end] of ends.entries()) {
		watch.record(end);
		if (watch.tripped) return k + 1;
	}
	return undefined;
}

describe('Stop When Failures Exceed (the watch)', () => {
	it('trips once more than the share of a full window failed for a non-transient reason', () => {
		const watch = new FailureRateWatch({ percent: 50, window: 10 });
		// 5 ok, then failures: at 10 answered, 5 of 10 failed (not more than 50 %); the 11th makes 6
		const ends = [...Array<Answered>(5).fill('ok'), ...Array(10).fill(fail('schema_violation'))];
		expect(tripAt(watch, ends)).toBe(11);
		expect(watch.tripped).toMatchObject({
			code: 'schema_violation',
			failed: 6,
			ofCode: 6,
			window: 10,
		});
	});

	it('never trips before the window is full, whatever the share', () => {
		const watch = new FailureRateWatch({ percent: 10, window: 100 });
		expect(tripAt(watch, Array(99).fill(fail('invalid_request')))).toBeUndefined();
		watch.record(fail('invalid_request'));
		expect(watch.tripped?.failed).toBe(100);
	});

	it('transient failures and results do not count as failures, and slide out of the window', () => {
		const watch = new FailureRateWatch({ percent: 50, window: 4 });
		const transient = ['server_error', 'timeout', 'connection', 'rate_limited', 'truncated'];
		expect(
			tripAt(
				watch,
				transient.map((c) => fail(c)),
			),
		).toBeUndefined();
		// window now: timeout, connection, rate_limited, truncated -> 2 failures of 4 = 50 %, not more
		expect(tripAt(watch, [fail('content_filter'), fail('content_filter')])).toBeUndefined();
		expect(tripAt(watch, ['ok', 'ok'])).toBeUndefined();
		// content_filter x2 slid out; ok, ok, malformed, malformed -> 50 %; a third one makes 3 of 4
		expect(tripAt(watch, [fail('malformed_output'), fail('malformed_output')])).toBeUndefined();
		expect(tripAt(watch, [fail('invalid_request')])).toBe(1);
		expect(watch.tripped).toMatchObject({ code: 'malformed_output', failed: 3, ofCode: 2 });
	});

	it('names the dominant code with one example message, redacted and shortened', () => {
		const watch = new FailureRateWatch({ percent: 50, window: 4 });
		const long = `The answer does not match the schema: /label is required. key sk-abcdefghijklmnop ${'x'.repeat(400)}`;
		tripAt(watch, ['ok', fail('invalid_request'), fail('schema_violation', long)]);
		watch.record('ok');
		expect(watch.tripped).toBeUndefined();
		watch.record(fail('schema_violation', long));
		const trip = watch.tripped!;
		expect(trip.code).toBe('schema_violation');
		expect(trip.example).toMatch(
			/^The answer does not match the schema: \/label is required\. key \[redacted\] x+…$/,
		);
		expect(trip.example.length).toBe(161);
		expect(trip.message).toBe(
			`3 of the last 4 answered items failed (75 %, over Stop When Failures Exceed 50 %), most with schema_violation (2), e.g. "${trip.example}"; fix the prompt, schema or model, then rerun the failed items`,
		);
		expect(trip.message).not.toContain('sk-abcdefghijklmnop');
	});

	it('tells every listener once, and a late listener at once', () => {
		const watch = new FailureRateWatch({ percent: 0.5, window: 2 });
		const heard: string[] = [];
		watch.onTrip((t) => heard.push(`a ${t.code}`));
		tripAt(watch, ['ok', fail('content_filter'), fail('content_filter')]);
		watch.onTrip((t) => heard.push(`b ${t.code}`));
		expect(heard).toEqual(['a content_filter', 'b content_filter']);
	});

	it('0 % means never', () => {
		const watch = new FailureRateWatch({ percent: 0, window: 1 });
		expect(tripAt(watch, Array(1000).fill(fail('schema_violation')))).toBeUndefined();
	});

	it('rejects a share outside 0..100 and a window below 1', () => {
		expect(() => new FailureRateWatch({ percent: 101, window: 10 })).toThrow(
			'Expected `percent` to be in [0, 100], got 101',
		);
		expect(() => new FailureRateWatch({ percent: 50, window: 0 })).toThrow(
			'Expected `window` to be an integer >= 1, got 0',
		);
	});
});
