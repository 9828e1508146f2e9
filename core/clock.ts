import { onAbort } from './abort';
import type { Clock } from './types';

/** The real clock. Core code takes a `Clock`; only node shells and scripts pass this one. */
export const systemClock: Clock = {
	now: () => Date.now(),
	sleep: (ms, signal) => (ms <= 0 ? Promise.resolve() : sleepFor(ms, signal)),
	random: () => Math.random(),
};

/**
 * `timers/promises` setTimeout, rejecting as it does (an `AbortError` whose cause is the
 * reason), but listening through ./abort.ts: the signals slept on are a run's, and a listener
 * added and removed on them per wait kept each waiter's state alive (see there).
 */
function sleepFor(ms: number, signal: AbortSignal | undefined): Promise<void> {
	return new Promise((resolve, reject) => {
		if (signal?.aborted) return reject(abortError(signal));
		let detach: (() => void) | undefined;
		const timer = setTimeout(() => {
			detach?.();
			resolve();
		}, ms);
		if (signal)
			detach = onAbort(signal, () => {
				clearTimeout(timer);
				reject(abortError(signal));
			});
	});
}

function abortError(signal: AbortSignal): Error {
	return Object.assign(new Error('The operation was aborted', { cause: signal.reason }), {
		name: 'AbortError',
		code: 'ABORT_ERR',
	});
}

/**
 * Calls `tick` every `intervalMs` of `clock` until `done` settles, never after. A clock whose
 * sleep does not pass its time (a test stub) would tick in a tight loop: it stops instead.
 */
export async function everyInterval(
	clock: Clock,
	intervalMs: number,
	done: Promise<unknown>,
	tick: () => unknown,
): Promise<void> {
	let finished = false;
	const stop = new AbortController();
	void done
		.finally(() => {
			finished = true;
			stop.abort();
		})
		.catch(() => undefined);
	while (!finished) {
		const before = clock.now();
		try {
			await clock.sleep(intervalMs, stop.signal);
		} catch {
			return;
		}
		if (clock.now() - before < intervalMs) return;
		if (!finished) await tick();
	}
}
