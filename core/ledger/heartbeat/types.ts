/**
 * What an execution working on a job reports about itself while it runs (its heartbeat), as
 * the ledger stores it next to the job's records: one row per (job, run of a node in an execution), updated in
 * place, and a bounded series of samples per job for the charts. The records stay the truth
 * for counts and money; a heartbeat adds what only the running execution knows (retries,
 * latency, its rate, that it is alive).
 */

export type HeartbeatNode = 'LLM Batch Call' | 'LLM Batch Job';
export type HeartbeatState = 'running' | 'finished' | 'stopped';

/** An execution's own counters, cumulative since it started (answers reused from the ledger excluded). */
export interface HeartbeatCounters {
	/** Items the execution was given. */
	total: number;
	/** Of those, answered from the ledger (stored before, or another execution's): not its own work. */
	reused: number;
	done: number;
	succeeded: number;
	failed: number;
	failedByCode: Record<string, number>;
	retries: number;
	inputTokens: number;
	outputTokens: number;
	costUsd: number;
}

export interface HeartbeatRow extends HeartbeatCounters {
	job: string;
	/**
	 * This heartbeat's own key (a random ID): one n8n execution may run the node more than once
	 * (a loop), each run with counters of its own.
	 */
	run: string;
	/** n8n's execution ID (or a process-unique ID outside n8n). */
	execution: string;
	/** `host:pid` of the n8n process or queue-mode worker. */
	worker: string;
	node: HeartbeatNode;
	state: HeartbeatState;
	startedAt: string;
	beatAt: string;
	/** When `done` last grew (null: nothing done yet). */
	lastProgressAt: string | null;
	/** The writer's interval: a reader calls the execution silent after three without a beat. */
	intervalMs: number;
	/** Latencies (ms, send to final answer) of the execution's most recent items, oldest first. */
	recentLatenciesMs: number[];
}

/** One point of an execution's counters, kept for the job's charts. */
export interface HeartbeatSample {
	run: string;
	at: string;
	done: number;
	succeeded: number;
	failed: number;
	failedByCode: Record<string, number>;
	costUsd: number;
}

/** The heartbeat tables next to a ledger store (same file or database). */
export interface HeartbeatStore {
	init(): Promise<void>;
	/**
	 * Upserts the execution's row (a row already `finished` or `stopped`, or one with a later
	 * beat, is left as it is) and appends its sample; thins the job's samples past the bound.
	 */
	beat(row: HeartbeatRow): Promise<void>;
	/** The job's heartbeat rows and its samples ordered by time. */
	read(job: string): Promise<{ beats: HeartbeatRow[]; samples: HeartbeatSample[] }>;
	deleteJob(job: string): Promise<void>;
	close(): Promise<void>;
}

/** Latencies a heartbeat carries: enough for a p95 that is not one item. */
export const RECENT_LATENCIES = 200;

/**
 * Samples kept per job: past it the older two thirds are thinned to every other point, so a
 * 2-hour job (720 beats of one execution) keeps a few hundred, dense where it is recent.
 */
export const MAX_SAMPLES = 360;

/**
 * The samples to delete (their positions, oldest first) when a job holds more than `max`:
 * every other one of the older two thirds. Applied on every beat, older stretches halve
 * again each time the bound is passed, so the density falls off with age.
 */
export function samplesToThin(count: number, max = MAX_SAMPLES): number[] {
	if (count <= max) return [];
	const older = Math.floor((count * 2) / 3);
	const out: number[] = [];
	// Keep the very first point: the start of the job stays on the chart.
	for (let i = 1; i < older; i += 2) out.push(i);
	return out;
}
