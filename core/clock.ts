import { setTimeout as delay } from 'node:timers/promises';

import type { Clock } from './types';

/** The real clock. Core code takes a `Clock`; only node shells and scripts pass this one. */
export const systemClock: Clock = {
	now: () => Date.now(),
	sleep: async (ms, signal) => {
		if (ms <= 0) return;
		await delay(ms, undefined, signal ? { signal } : undefined);
	},
	random: () => Math.random(),
};

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
