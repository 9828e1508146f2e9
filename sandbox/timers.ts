/** The sandbox's pending timers (latency, hangs), so closing it leaves none behind. */
export class Timers {
	private readonly pending = new Set<NodeJS.Timeout>();

	later(ms: number, fn: () => void): NodeJS.Timeout {
		// setTimeout fires at once for delays above 2^31 - 1 ms (e.g. hangMs: Infinity).
		const t = setTimeout(
			() => {
				this.pending.delete(t);
				fn();
			},
			Math.min(ms, 2_147_483_647),
		);
		this.pending.add(t);
		return t;
	}

	sleep(ms: number): Promise<void> {
		return new Promise<void>((r) => this.later(ms, r));
	}

	cancel(t: NodeJS.Timeout): void {
		clearTimeout(t);
		this.pending.delete(t);
	}

	cancelAll(): void {
		for (const t of this.pending) clearTimeout(t);
		this.pending.clear();
	}
}
