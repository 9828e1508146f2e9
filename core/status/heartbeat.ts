/**
 * An execution's heartbeat for its ledger job: its counters written to the ledger at start,
 * every interval while it runs and once at the end (core/ledger/heartbeat), so Batch Ledger's
 * Job Status can say from any workflow how far the job is and who works on it. One upsert per
 * interval, never one per item; a beat that fails is logged once and skipped — the run it
 * reports on never waits for it or fails because of it.
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';

import {
	RECENT_LATENCIES,
	type HeartbeatCounters,
	type HeartbeatNode,
	type HeartbeatRow,
	type HeartbeatState,
	type HeartbeatStore,
} from '../ledger/heartbeat/types';
import { everyInterval } from '../clock';
import { heartbeatStoreFor } from '../ledger/heartbeat';
import type { Checkpoint, LedgerStore } from '../ledger/types';
import type { Clock } from '../types';

/** At least this often (the promise to a watcher: a live job shows within 10 s). */
export const HEARTBEAT_INTERVAL_MS = 10_000;

/** The end's beat waits at most this long for the store (a run never waits longer on its heartbeat). */
export const FINAL_BEAT_WAIT_MS = 2_000;

export interface HeartbeatIdentity {
	job: string;
	execution: string;
	node: HeartbeatNode;
	/** @default `host:pid` of this process */
	worker?: string;
}

export interface HeartbeatOptions {
	clock: Clock;
	/** @default HEARTBEAT_INTERVAL_MS */
	intervalMs?: number;
	/** Told once, on the first beat that fails. */
	warn: (line: string) => void;
}

export const thisWorker = (): string => `${hostname()}:${process.pid}`;

export class Heartbeat {
	private readonly intervalMs: number;
	private readonly startedAt: string;
	private readonly worker: string;
	private readonly runId = randomUUID();
	private readonly latencies: number[] = [];
	private lastDone = 0;
	private lastProgressAt: string | null = null;
	private writing: Promise<void> | undefined;
	private warned = false;
	private ended = false;

	constructor(
		private readonly store: HeartbeatStore,
		private readonly id: HeartbeatIdentity,
		private readonly o: HeartbeatOptions,
	) {
		this.intervalMs = o.intervalMs ?? HEARTBEAT_INTERVAL_MS;
		if (!(this.intervalMs > 0))
			throw new TypeError(`Expected \`intervalMs\` to be > 0, got ${o.intervalMs}`);
		this.startedAt = new Date(o.clock.now()).toISOString();
		this.worker = id.worker ?? thisWorker();
	}

	/** An item's latency (send to final answer); the last RECENT_LATENCIES go with each beat. */
	latency(ms: number): void {
		if (!Number.isFinite(ms) || ms < 0) return;
		this.latencies.push(ms);
		if (this.latencies.length > RECENT_LATENCIES * 2)
			this.latencies.splice(0, this.latencies.length - RECENT_LATENCIES);
	}

	/**
	 * Beats now and every interval with what `read` says, until `done` settles (the end's beat
	 * is `finish`). Resolves when `done` settles and the beat under way, if any, is written.
	 */
	async run(read: () => HeartbeatCounters, done: Promise<unknown>): Promise<void> {
		await this.beat('running', read());
		await everyInterval(this.o.clock, this.intervalMs, done, () => this.beat('running', read()));
	}

	/** The last beat: `finished` or `stopped`, with the run's final counters; waits at most FINAL_BEAT_WAIT_MS. */
	async finish(
		state: Exclude<HeartbeatState, 'running'>,
		counters: HeartbeatCounters,
	): Promise<void> {
		const stop = new AbortController();
		const wait = this.o.clock.sleep(FINAL_BEAT_WAIT_MS, stop.signal).catch(() => undefined);
		const last = (async () => {
			// After the beat under way: two upserts of one row must land in order.
			await this.writing;
			await this.beat(state, counters);
			this.ended = true;
		})();
		await Promise.race([last, wait]);
		stop.abort();
	}

	private async beat(state: HeartbeatState, counters: HeartbeatCounters): Promise<void> {
		if (this.ended) return;
		const row = this.row(state, counters);
		const write = this.store.beat(row).catch((e: unknown) => {
			if (this.warned) return;
			this.warned = true;
			this.o.warn(
				`the job's heartbeat could not be written (${(e as Error).message}); the run goes on, Job Status shows it late`,
			);
		});
		this.writing = write;
		await write;
	}

	private row(state: HeartbeatState, c: HeartbeatCounters): HeartbeatRow {
		const beatAt = new Date(this.o.clock.now()).toISOString();
		if (c.done > this.lastDone) {
			this.lastDone = c.done;
			this.lastProgressAt = beatAt;
		}
		return {
			...c,
			failedByCode: { ...c.failedByCode },
			job: this.id.job,
			run: this.runId,
			execution: this.id.execution,
			worker: this.worker,
			node: this.id.node,
			state,
			startedAt: this.startedAt,
			beatAt,
			lastProgressAt: this.lastProgressAt,
			intervalMs: this.intervalMs,
			recentLatenciesMs: this.latencies.slice(-RECENT_LATENCIES),
		};
	}
}

/**
 * The heartbeat of an execution working on `job` in `store`; undefined for a store that keeps
 * no heartbeats (a test double), said once through `warn`.
 */
export function jobHeartbeat(
	store: LedgerStore,
	id: HeartbeatIdentity,
	o: HeartbeatOptions,
): Heartbeat | undefined {
	try {
		return new Heartbeat(heartbeatStoreFor(store), id, o);
	} catch (e) {
		o.warn(`the job's heartbeat is off: ${(e as Error).message}`);
		return undefined;
	}
}

/**
 * The checkpoint, telling the heartbeat each new answer's latency as it is stored (answers
 * reused from the ledger are not new: they pass by `lookup`, not here). Everything else as is.
 */
export function withLatencies(checkpoint: Checkpoint, heartbeat: Heartbeat): Checkpoint {
	const succeeded = checkpoint.succeeded.bind(checkpoint);
	checkpoint.succeeded = (result) => {
		if (!result.cached) heartbeat.latency(result.latencyMs);
		succeeded(result);
	};
	return checkpoint;
}
