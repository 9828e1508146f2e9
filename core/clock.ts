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

/** An `AbortSignal` that fires when any of the given signals fires. */
export function anySignal(signals: Array<AbortSignal | undefined>): AbortSignal | undefined {
	const present = signals.filter((s): s is AbortSignal => s !== undefined);
	if (present.length === 0) return undefined;
	if (present.length === 1) return present[0];
	return AbortSignal.any(present);
}
