import type { Clock } from '../../core/types';

/**
 * A clock tests drive by hand: `sleep` resolves only when `advance` passes its deadline,
 * and every sleep is recorded so tests assert exact delays.
 */
export class FakeClock implements Clock {
	private t: number;
	private timers: Array<{
		at: number;
		resolve: () => void;
		reject: (e: unknown) => void;
		seq: number;
	}> = [];
	private seq = 0;
	readonly sleeps: number[] = [];
	private randoms: number[];

	constructor(start = 0, randoms: number[] = [0.5]) {
		this.t = start;
		this.randoms = randoms;
	}

	now(): number {
		return this.t;
	}

	random = (): number => {
		const v = this.randoms.length > 1 ? this.randoms.shift()! : this.randoms[0];
		return v;
	};

	sleep(ms: number, signal?: AbortSignal): Promise<void> {
		this.sleeps.push(ms);
		if (signal?.aborted) return Promise.reject(signal.reason);
		return new Promise((resolve, reject) => {
			const timer = { at: this.t + Math.max(0, ms), resolve, reject, seq: this.seq++ };
			this.timers.push(timer);
			signal?.addEventListener(
				'abort',
				() => {
					this.timers = this.timers.filter((x) => x !== timer);
					reject(signal.reason);
				},
				{ once: true },
			);
		});
	}

	get pending(): number {
		return this.timers.length;
	}

	/** Moves time forward, firing due timers in order and letting their continuations run. */
	async advance(ms: number): Promise<void> {
		const target = this.t + ms;
		for (;;) {
			await flush();
			this.timers.sort((a, b) => a.at - b.at || a.seq - b.seq);
			const next = this.timers[0];
			if (!next || next.at > target) break;
			this.timers.shift();
			this.t = Math.max(this.t, next.at);
			next.resolve();
		}
		this.t = target;
		await flush();
	}

	/** Advance until nothing is sleeping (or `limitMs` passed). */
	async runAll(limitMs = 3_600_000): Promise<void> {
		const end = this.t + limitMs;
		for (;;) {
			await flush();
			this.timers.sort((a, b) => a.at - b.at);
			const next = this.timers[0];
			if (!next || next.at > end) return;
			await this.advance(next.at - this.t);
		}
	}
}

async function flush(): Promise<void> {
	for (let i = 0; i < 20; i++) await Promise.resolve();
	await new Promise((r) => setImmediate(r));
}

/**
 * Runs `clock` until `p` settles. A number: fake milliseconds per turn (a run: leases, limits
 * and heartbeats keep ticking), real I/O (a socket, a database) getting its turn between turns.
 * `'due'`: fake time moves only when everything waits on it, and a real millisecond passes per
 * turn (one store call on a real database: its backoff is fake time, its queries never are).
 */
export async function drive<T>(
	clock: FakeClock,
	p: Promise<T>,
	step: number | 'due' = 100,
): Promise<T> {
	let settled = false;
	void p.then(
		() => (settled = true),
		() => (settled = true),
	);
	while (!settled) {
		if (step !== 'due') await clock.advance(step);
		else if (clock.pending > 0) await clock.runAll();
		await new Promise((r) => (step === 'due' ? setTimeout(r, 1) : setImmediate(r)));
	}
	return p;
}
