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
