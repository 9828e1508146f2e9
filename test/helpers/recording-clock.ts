import { systemClock } from '../../core/clock';
import type { Clock } from '../../core/types';

/**
 * The real clock, with every wait the code under test asks for recorded: a test that runs
 * against a live sandbox asserts "nothing waited for the hour-long Retry-After" or "no lease
 * was waited out" from what was asked of the clock, not from the wall time it took (which a
 * loaded machine stretches).
 */
export class RecordingClock implements Clock {
	readonly sleeps: number[] = [];

	now(): number {
		return systemClock.now();
	}

	random(): number {
		return systemClock.random();
	}

	sleep(ms: number, signal?: AbortSignal): Promise<void> {
		this.sleeps.push(ms);
		return systemClock.sleep(ms, signal);
	}

	/** The longest single wait asked for (0 when none). */
	get longestSleep(): number {
		return this.sleeps.reduce((a, b) => Math.max(a, b), 0);
	}

	/** All waits asked for, summed (concurrent waits add up: an upper bound of time waited). */
	get totalSleep(): number {
		return this.sleeps.reduce((a, b) => a + b, 0);
	}
}
