/**
 * Job Status: the ledger's records (done / total, failures by code, tokens, cost — the truth
 * for counts and money) joined with the heartbeats of the executions working on the job
 * (retries, latency, rates, who takes part and whether they are alive). Pure but for
 * `readJobStatus`, which reads both from the store.
 */
import { heartbeatStoreFor } from '../ledger/heartbeat';
import type { HeartbeatRow, HeartbeatSample } from '../ledger/heartbeat/types';
import type { JobStats, LedgerStore } from '../ledger/types';
import { chartSeries, composeSeries, doneAt } from './series';
import type { JobParticipant, JobStatus } from './types';

/** A job with records left and no progress for this long is `stalled`. */
export const DEFAULT_STALL_MS = 5 * 60_000;
/** "Now" in throughput: the last two minutes of heartbeats. */
export const NOW_WINDOW_MS = 2 * 60_000;
/** "At start" in time per item: the job's first two minutes. */
export const START_WINDOW_MS = 2 * 60_000;
/** A running execution without a heartbeat for this many of its intervals is `silent`. */
export const SILENT_AFTER_INTERVALS = 3;
/**
 * Ended runs listed besides the live ones, the latest first: a job polled by a scheduled Check
 * Status every minute would otherwise list hundreds.
 */
export const ENDED_PARTICIPANTS = 10;

export interface StatusOptions {
	now: number;
	/** @default DEFAULT_STALL_MS */
	stallMs?: number;
	/** Records the job will have (a job split into chunks whose later chunks have not started). */
	expectedTotal?: number;
}

export async function readJobStatus(
	store: LedgerStore,
	job: string,
	o: StatusOptions,
): Promise<JobStatus> {
	const [stats, beats] = await Promise.all([store.stats(job), heartbeatStoreFor(store).read(job)]);
	return jobStatus(stats, beats.beats, beats.samples, o);
}

export function jobStatus(
	stats: JobStats,
	beats: readonly HeartbeatRow[],
	samples: readonly HeartbeatSample[],
	o: StatusOptions,
): JobStatus {
	const { now } = o;
	const participants = beats.map((b) => participant(b, now));
	const live = beats.filter((_, i) => participants[i].state === 'running');
	const series = composeSeries(beats, samples);
	const startedAt = earliest([
		...beats.map((b) => b.startedAt),
		...(beats.length === 0 && stats.firstCreatedAt ? [stats.firstCreatedAt] : []),
	]);
	const lastProgressAt =
		latest(beats.map((b) => b.lastProgressAt)) ?? (beats.length === 0 ? stats.lastUpdatedAt : null);
	const done = stats.succeeded + stats.failed;
	// Records are created as they are claimed: the items of a running execution it has not
	// reached yet are not records yet. Its own count of items bounds the job from below;
	// summing the executions' counts would count twice the items two executions share (they
	// split them by claims), and a job split into chunks knows its future chunks only through
	// `expectedTotal`.
	const total = Math.max(stats.total, o.expectedTotal ?? 0, ...live.map((b) => b.total));
	const rates = throughput(series, beats, live, startedAt);
	const state = stateOf({ stats, beats, live, total, done, lastProgressAt, startedAt, now, o });
	const left = total - done;
	const rate = rates.nowPerMinute > 0 ? rates.nowPerMinute : rates.overallPerMinute;
	return {
		job: stats.job,
		state,
		total,
		done,
		succeeded: stats.succeeded,
		failed: stats.failed,
		pending: stats.pending,
		processing: stats.processing,
		failedByCode: { ...stats.errorsByCode },
		retries: beats.reduce((n, b) => n + b.retries, 0),
		inputTokens: stats.inputTokens,
		outputTokens: stats.outputTokens,
		costUsd: stats.costUsd,
		successRate: done === 0 ? null : stats.succeeded / done,
		throughput: rates,
		latencyMs: latencies(live.length > 0 ? live : beats),
		msPerItem: msPerItem(series, startedAt, rates.nowPerMinute),
		etaMs:
			state === 'not_found'
				? null
				: left <= 0
					? 0
					: live.length > 0 && rate > 0
						? (left / rate) * 60_000
						: null,
		startedAt: startedAt === null ? null : new Date(startedAt).toISOString(),
		lastProgressAt,
		checkedAt: new Date(now).toISOString(),
		participants: listed(participants),
		series: state === 'not_found' ? [] : chartSeries(series, stats, startedAt, now),
	};
}

function participant(b: HeartbeatRow, now: number): JobParticipant {
	const silent =
		b.state === 'running' && now - Date.parse(b.beatAt) > SILENT_AFTER_INTERVALS * b.intervalMs;
	return {
		execution: b.execution,
		worker: b.worker,
		node: b.node,
		startedAt: b.startedAt,
		lastBeatAt: b.beatAt,
		done: b.done,
		state: silent ? 'silent' : b.state,
	};
}

/** Every live run, and the latest ended ones; in order of start. */
function listed(all: JobParticipant[]): JobParticipant[] {
	const ended = all.filter((p) => p.state === 'finished' || p.state === 'stopped');
	if (ended.length <= ENDED_PARTICIPANTS) return all;
	const kept = new Set(
		[...ended]
			.sort((a, b) => b.lastBeatAt.localeCompare(a.lastBeatAt))
			.slice(0, ENDED_PARTICIPANTS),
	);
	return all.filter((p) => !ended.includes(p) || kept.has(p));
}

function stateOf(a: {
	stats: JobStats;
	beats: readonly HeartbeatRow[];
	live: readonly HeartbeatRow[];
	total: number;
	done: number;
	lastProgressAt: string | null;
	startedAt: number | null;
	now: number;
	o: StatusOptions;
}): JobStatus['state'] {
	if (a.stats.total === 0 && a.beats.length === 0) return 'not_found';
	const left = a.stats.pending + a.stats.processing > 0 || a.total > a.done;
	if (!left && a.live.length === 0) return 'finished';
	// A run that started since the last progress has not had its chance yet.
	const since = latestMs([a.lastProgressAt, ...a.live.map((b) => b.startedAt)]) ?? a.startedAt;
	const quiet = since === null || a.now - since > (a.o.stallMs ?? DEFAULT_STALL_MS);
	if (a.live.length === 0) return left ? 'stalled' : 'finished';
	return quiet ? 'stalled' : 'running';
}

function throughput(
	series: ReturnType<typeof composeSeries>,
	beats: readonly HeartbeatRow[],
	live: readonly HeartbeatRow[],
	startedAt: number | null,
): JobStatus['throughput'] {
	const own = beats.reduce((n, b) => n + b.done, 0);
	const lastBeat = latestMs(beats.map((b) => b.beatAt));
	const lastProgress = latestMs(beats.map((b) => b.lastProgressAt));
	const end = live.length > 0 ? lastBeat : lastProgress;
	if (startedAt === null || end === null || end <= startedAt)
		return { nowPerMinute: 0, overallPerMinute: 0 };
	const overallPerMinute = (own / (end - startedAt)) * 60_000;
	if (live.length === 0) return { nowPerMinute: 0, overallPerMinute };
	const from = Math.max(startedAt, end - NOW_WINDOW_MS);
	const nowPerMinute = ((doneAt(series, end) - doneAt(series, from)) / (end - from)) * 60_000;
	return { nowPerMinute, overallPerMinute };
}

function msPerItem(
	series: ReturnType<typeof composeSeries>,
	startedAt: number | null,
	nowPerMinute: number,
): JobStatus['msPerItem'] {
	const now = nowPerMinute > 0 ? 60_000 / nowPerMinute : null;
	if (startedAt === null || series.length === 0) return { atStart: null, now };
	const last = series[series.length - 1].t;
	const until = Math.min(startedAt + START_WINDOW_MS, last);
	const early = doneAt(series, until);
	return { atStart: early > 0 ? (until - startedAt) / early : null, now };
}

/** p50 / p95 (nearest rank) of the runs' recent per-item latencies. */
function latencies(beats: readonly HeartbeatRow[]): JobStatus['latencyMs'] {
	const all = beats.flatMap((b) => b.recentLatenciesMs).sort((a, b) => a - b);
	const rank = (q: number) => all[Math.max(0, Math.ceil(q * all.length) - 1)];
	return all.length === 0 ? { p50: null, p95: null } : { p50: rank(0.5), p95: rank(0.95) };
}

function latestMs(times: ReadonlyArray<string | null>): number | null {
	const ms = times.filter((t): t is string => t !== null).map((t) => Date.parse(t));
	return ms.length === 0 ? null : Math.max(...ms);
}

function latest(times: ReadonlyArray<string | null>): string | null {
	const ms = latestMs(times);
	return ms === null ? null : new Date(ms).toISOString();
}

function earliest(times: readonly string[]): number | null {
	return times.length === 0 ? null : Math.min(...times.map((t) => Date.parse(t)));
}
