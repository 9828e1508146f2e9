/** Heartbeat rows as both dialects read them back (SQLite: JSON and times as text; PostgreSQL: parsed). */
import type { HeartbeatNode, HeartbeatRow, HeartbeatSample, HeartbeatState } from './types';

export interface HeartbeatDbRow {
	job: string;
	run: string;
	execution: string;
	worker: string;
	node: string;
	state: string;
	started_at: string | Date;
	beat_at: string | Date;
	last_progress_at: string | Date | null;
	interval_ms: number | string;
	total: number | string;
	reused: number | string;
	done: number | string;
	succeeded: number | string;
	failed: number | string;
	failed_by_code: string | Record<string, number>;
	retries: number | string;
	input_tokens: number | string;
	output_tokens: number | string;
	cost_usd: number | string;
	recent_latencies: string | number[];
}

export interface SampleDbRow {
	at: string | Date;
	run: string;
	done: number | string;
	succeeded: number | string;
	failed: number | string;
	failed_by_code: string | Record<string, number>;
	cost_usd: number | string;
}

const iso = (v: string | Date): string => (v instanceof Date ? v.toISOString() : v);
const json = <T>(v: string | T): T => (typeof v === 'string' ? (JSON.parse(v) as T) : v);

export function toHeartbeat(r: HeartbeatDbRow): HeartbeatRow {
	return {
		job: r.job,
		run: r.run,
		execution: r.execution,
		worker: r.worker,
		node: r.node as HeartbeatNode,
		state: r.state as HeartbeatState,
		startedAt: iso(r.started_at),
		beatAt: iso(r.beat_at),
		lastProgressAt: r.last_progress_at === null ? null : iso(r.last_progress_at),
		intervalMs: Number(r.interval_ms),
		total: Number(r.total),
		reused: Number(r.reused),
		done: Number(r.done),
		succeeded: Number(r.succeeded),
		failed: Number(r.failed),
		failedByCode: json(r.failed_by_code),
		retries: Number(r.retries),
		inputTokens: Number(r.input_tokens),
		outputTokens: Number(r.output_tokens),
		costUsd: Number(r.cost_usd),
		recentLatenciesMs: json(r.recent_latencies),
	};
}

export function toSample(r: SampleDbRow): HeartbeatSample {
	return {
		run: r.run,
		at: iso(r.at),
		done: Number(r.done),
		succeeded: Number(r.succeeded),
		failed: Number(r.failed),
		failedByCode: json(r.failed_by_code),
		costUsd: Number(r.cost_usd),
	};
}

/** The row's values in the order of `HEARTBEAT_COLUMNS`. */
export function heartbeatValues(b: HeartbeatRow): Array<string | number | null> {
	return [
		b.job,
		b.run,
		b.execution,
		b.worker,
		b.node,
		b.state,
		b.startedAt,
		b.beatAt,
		b.lastProgressAt,
		b.intervalMs,
		b.total,
		b.reused,
		b.done,
		b.succeeded,
		b.failed,
		JSON.stringify(b.failedByCode),
		b.retries,
		b.inputTokens,
		b.outputTokens,
		b.costUsd,
		JSON.stringify(b.recentLatenciesMs),
	];
}

export const HEARTBEAT_COLUMNS =
	'job, run, execution, worker, node, state, started_at, beat_at, last_progress_at, interval_ms, total, reused, done, succeeded, failed, failed_by_code, retries, input_tokens, output_tokens, cost_usd, recent_latencies';

/** The upsert's SET: everything but the key and the start. */
export const HEARTBEAT_UPDATE = HEARTBEAT_COLUMNS.split(', ')
	.filter((c) => !['job', 'run', 'execution', 'started_at'].includes(c))
	.map((c) => `${c} = excluded.${c}`)
	.join(', ');

/** A row already ended, or beaten later (two writes landing out of order), stays as it is. */
export function keepNewest(table: string): string {
	return `WHERE ${table}.state = 'running' AND excluded.beat_at >= ${table}.beat_at`;
}

export function sampleValues(b: HeartbeatRow): Array<string | number> {
	return [
		b.job,
		b.beatAt,
		b.run,
		b.done,
		b.succeeded,
		b.failed,
		JSON.stringify(b.failedByCode),
		b.costUsd,
	];
}

export const SAMPLE_COLUMNS = 'job, at, run, done, succeeded, failed, failed_by_code, cost_usd';
