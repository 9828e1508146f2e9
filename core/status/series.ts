/**
 * The job's progress over time, from the executions' heartbeats: each run's counters are
 * cumulative, so the job at time t is the sum of every run's latest point at or before t — a
 * sum that never goes down. Lifted to the ledger's records (what was done before or outside
 * the heartbeats: earlier executions, reused answers), and kept monotone point to point.
 */
import type { HeartbeatRow, HeartbeatSample } from '../ledger/heartbeat/types';
import type { JobStats } from '../ledger/types';
import type { JobStatusSample } from './types';

/** Points a status carries at most: a chart's worth. */
export const MAX_SERIES_POINTS = 300;

interface Point {
	t: number;
	done: number;
	succeeded: number;
	failed: number;
	failedByCode: Record<string, number>;
	costUsd: number;
}

/** Every run's points ordered by time: its samples and its latest beat. */
function runPoints(beats: readonly HeartbeatRow[], samples: readonly HeartbeatSample[]) {
	const all: Array<HeartbeatSample> = [...samples];
	for (const b of beats) all.push({ ...b, at: b.beatAt });
	return all
		.map((s) => ({ run: s.run, p: { ...s, t: Date.parse(s.at) } as Point & { at: string } }))
		.sort((a, b) => a.p.t - b.p.t);
}

/** The job's sum of its runs' latest points, at each time one of them beat. */
export function composeSeries(
	beats: readonly HeartbeatRow[],
	samples: readonly HeartbeatSample[],
): Point[] {
	const latest = new Map<string, Point>();
	const out: Point[] = [];
	for (const { run, p } of runPoints(beats, samples)) {
		latest.set(run, p);
		const sum = total([...latest.values()], p.t);
		if (out.length > 0 && out[out.length - 1].t === p.t) out[out.length - 1] = sum;
		else out.push(sum);
	}
	return out;
}

function total(points: readonly Point[], t: number): Point {
	const failedByCode: Record<string, number> = {};
	let done = 0;
	let succeeded = 0;
	let failed = 0;
	let costUsd = 0;
	for (const p of points) {
		done += p.done;
		succeeded += p.succeeded;
		failed += p.failed;
		costUsd += p.costUsd;
		for (const [code, n] of Object.entries(p.failedByCode))
			failedByCode[code] = (failedByCode[code] ?? 0) + n;
	}
	return { t, done, succeeded, failed, failedByCode, costUsd };
}

/** The series' value at time t (its last point at or before t; zero before the first). */
export function doneAt(series: readonly Point[], t: number): number {
	let v = 0;
	for (const p of series) {
		if (p.t > t) break;
		v = p.done;
	}
	return v;
}

/**
 * The chart's points: the heartbeats' series lifted by what the records hold beyond it, the
 * records' own figures at `now` last, monotone throughout, at most MAX_SERIES_POINTS.
 */
export function chartSeries(
	series: readonly Point[],
	stats: JobStats,
	startedAt: number | null,
	now: number,
): JobStatusSample[] {
	const end = series[series.length - 1];
	const lift = (records: number, heartbeats: number | undefined) =>
		Math.max(0, records - (heartbeats ?? 0));
	const base = {
		succeeded: lift(stats.succeeded, end?.succeeded),
		failed: lift(stats.failed, end?.failed),
		costUsd: lift(stats.costUsd, end?.costUsd),
		byCode: Object.fromEntries(
			Object.entries(stats.errorsByCode).map(([c, n]) => [c, lift(n, end?.failedByCode[c])]),
		),
	};
	const points: Point[] = [];
	if (startedAt !== null && (series.length === 0 || series[0].t > startedAt))
		points.push({ t: startedAt, done: 0, succeeded: 0, failed: 0, failedByCode: {}, costUsd: 0 });
	points.push(...series);
	const lifted = points.map((p) => {
		const failedByCode: Record<string, number> = { ...p.failedByCode };
		for (const [c, n] of Object.entries(base.byCode)) failedByCode[c] = (failedByCode[c] ?? 0) + n;
		const succeeded = p.succeeded + base.succeeded;
		const failed = p.failed + base.failed;
		return {
			...p,
			succeeded,
			failed,
			done: succeeded + failed,
			failedByCode,
			costUsd: p.costUsd + base.costUsd,
		};
	});
	lifted.push({
		t: Math.max(now, lifted[lifted.length - 1]?.t ?? now),
		done: stats.succeeded + stats.failed,
		succeeded: stats.succeeded,
		failed: stats.failed,
		failedByCode: { ...stats.errorsByCode },
		costUsd: stats.costUsd,
	});
	return monotone(thin(lifted)).map((p) => ({
		at: new Date(p.t).toISOString(),
		done: p.done,
		succeeded: p.succeeded,
		failed: p.failed,
		failedByCode: p.failedByCode,
		costUsd: p.costUsd,
	}));
}

/** Every field the running maximum of itself: a chart of progress never steps back. */
function monotone(points: Point[]): Point[] {
	let prev: Point | undefined;
	return points.map((p) => {
		if (!prev) return (prev = p);
		const failedByCode = { ...prev.failedByCode };
		for (const [c, n] of Object.entries(p.failedByCode))
			failedByCode[c] = Math.max(n, failedByCode[c] ?? 0);
		const succeeded = Math.max(p.succeeded, prev.succeeded);
		const failed = Math.max(p.failed, prev.failed);
		prev = {
			t: p.t,
			succeeded,
			failed,
			done: Math.max(p.done, prev.done, succeeded + failed),
			failedByCode,
			costUsd: Math.max(p.costUsd, prev.costUsd),
		};
		return prev;
	});
}

/** Evenly spaced by position, first and last kept. */
function thin(points: Point[]): Point[] {
	if (points.length <= MAX_SERIES_POINTS) return points;
	const step = (points.length - 1) / (MAX_SERIES_POINTS - 1);
	return Array.from({ length: MAX_SERIES_POINTS }, (_, i) => points[Math.round(i * step)]);
}
