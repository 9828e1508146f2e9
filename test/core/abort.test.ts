import { getEventListeners } from 'node:events';

import { describe, expect, it } from 'vitest';

import { onAbort } from '../../core/abort';
import { systemClock } from '../../core/clock';

describe('onAbort: listeners on a long-lived signal', () => {
	it('calls each listener once, in the order added, and not those removed', () => {
		const run = new AbortController();
		const calls: string[] = [];
		const offA = onAbort(run.signal, () => calls.push('a'));
		const offB = onAbort(run.signal, () => calls.push('b'));
		onAbort(run.signal, () => calls.push('c'));
		offB();
		offB();
		run.abort();
		run.abort();
		offA();
		expect(calls).toEqual(['a', 'c']);
	});

	it('never calls a listener added to a signal already aborted, like addEventListener', async () => {
		const run = new AbortController();
		run.abort();
		let called = 0;
		const off = onAbort(run.signal, () => called++);
		await new Promise((resolve) => setImmediate(resolve));
		off();
		expect(called).toBe(0);
	});

	it('a listener may remove another, or add one, while the signal aborts', () => {
		const run = new AbortController();
		const calls: string[] = [];
		let offC: () => void = () => undefined;
		onAbort(run.signal, () => {
			calls.push('a');
			offC();
			onAbort(run.signal, () => calls.push('late'));
		});
		onAbort(run.signal, () => calls.push('b'));
		offC = onAbort(run.signal, () => calls.push('c'));
		run.abort();
		expect(calls).toEqual(['a', 'b']);
	});

	it('puts one listener on the signal however many come and go under it', () => {
		const run = new AbortController();
		for (let i = 0; i < 1000; i++) onAbort(run.signal, () => undefined)();
		const kept = Array.from({ length: 5 }, () => onAbort(run.signal, () => undefined));
		expect(getEventListeners(run.signal, 'abort')).toHaveLength(1);
		for (const off of kept) off();
		expect(getEventListeners(run.signal, 'abort')).toHaveLength(1);
	});
});

describe('systemClock.sleep on a run signal', () => {
	it('resolves after the time, leaving the signal as it found it', async () => {
		const run = new AbortController();
		onAbort(run.signal, () => undefined);
		await systemClock.sleep(5, run.signal);
		await systemClock.sleep(0, run.signal);
		expect(getEventListeners(run.signal, 'abort')).toHaveLength(1);
	});

	it('rejects as timers/promises does: an AbortError carrying the reason, at once or when aborted', async () => {
		const run = new AbortController();
		const sleeping = systemClock.sleep(60_000, run.signal).catch((e: unknown) => e);
		run.abort('stop');
		const woken = (await sleeping) as Error & { code?: string };
		expect(woken).toMatchObject({ name: 'AbortError', code: 'ABORT_ERR', cause: 'stop' });
		const late = await systemClock.sleep(10, run.signal).catch((e: unknown) => e);
		expect(late).toMatchObject({ name: 'AbortError', cause: 'stop' });
	});
});
