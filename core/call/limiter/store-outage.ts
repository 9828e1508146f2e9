import type { Clock } from '../../types';

export type StoreLimiterEvent =
	| { type: 'unavailable'; message: string; fallback: 'local' | 'stop' }
	| { type: 'recovered'; downMs: number };

export class LimitStoreUnavailableError extends Error {
	readonly code = 'limit_store_unavailable';
	constructor(message: string) {
		super(message);
		this.name = 'LimitStoreUnavailableError';
	}
}

/** What happened to the store during a run, for the final hint. */
export interface StoreLimiterReport {
	/** Times the store became unavailable. */
	outages: number;
	/** Milliseconds this process ran on the fallback (or was stopped by it). */
	fallbackMs: number;
	/** Requests admitted by the local fallback. */
	fallbackRequests: number;
	lastError?: string;
}

/**
 * The shared store's health as one limiter sees it: when it failed, when to try it again, and
 * what to tell the log and the hint. While it is down, `local` sends this process through its
 * fallback limiter until the next probe; `stop` fails the run with one clear error.
 */
export class StoreOutage {
	private downSince: number | undefined;
	private nextProbe = 0;
	/** Set once the store failed under `stop`: every waiter rejects with it. */
	failed: LimitStoreUnavailableError | undefined;
	readonly report: StoreLimiterReport = { outages: 0, fallbackMs: 0, fallbackRequests: 0 };

	constructor(
		private readonly clock: Clock,
		private readonly mode: 'local' | 'stop',
		private readonly retryStoreMs: number,
		private readonly onEvent?: (e: StoreLimiterEvent) => void,
	) {}

	/** True while the store is down (this process on the fallback, or stopped). */
	get down(): boolean {
		return this.downSince !== undefined;
	}

	/** Down and not yet due for another try. */
	get waitingToProbe(): boolean {
		return this.downSince !== undefined && this.clock.now() < this.nextProbe;
	}

	/** A store call failed: the outage begins (nothing more while it lasts). */
	storeFailed(e: unknown): void {
		if (this.downSince !== undefined || this.failed) return;
		const message = e instanceof Error ? e.message : String(e);
		this.report.outages++;
		this.report.lastError = message;
		const now = this.clock.now();
		this.downSince = now;
		this.nextProbe = now + this.retryStoreMs;
		this.onEvent?.({ type: 'unavailable', message, fallback: this.mode });
		if (this.mode === 'stop')
			this.failed = new LimitStoreUnavailableError(
				`The shared limit store is unreachable (${message})`,
			);
	}

	/** A `take` failed: the outage begins, or (already down) the next try is scheduled. */
	probeFailed(e: unknown): void {
		if (this.downSince === undefined) this.storeFailed(e);
		else this.nextProbe = this.clock.now() + this.retryStoreMs;
	}

	/** A store call succeeded. */
	storeBack(): void {
		if (this.downSince === undefined) return;
		const downMs = this.clock.now() - this.downSince;
		this.report.fallbackMs += downMs;
		this.downSince = undefined;
		this.onEvent?.({ type: 'recovered', downMs });
	}

	/** Closes the books at the end of a run: time still on the fallback counts. */
	finish(): StoreLimiterReport {
		if (this.downSince !== undefined) {
			const now = this.clock.now();
			this.report.fallbackMs += now - this.downSince;
			this.downSince = now;
		}
		return this.report;
	}
}
