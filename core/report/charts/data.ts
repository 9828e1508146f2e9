/**
 * What the charts show, from what the report and the live status already hold: outcomes,
 * failures by code, cost by model (bars) and throughput over time (a line). Pure: the
 * numbers in, the charts (./svg.ts panels) out.
 */
import type { JobStatusSample } from '../../status/types';
import type { ReportOutcome } from '../index';
import { barChart, formatNumber, lineChart, type Bar, type Panel, type Point } from './svg';

/** Outcome colours, the same wherever an outcome is drawn. */
const OUTCOME_COLORS: Record<ReportOutcome, string> = {
	success: '#2f8f4e',
	review: '#c99a06',
	invalid: '#d4692b',
	failed: '#c0392b',
	filtered: '#7d5ba6',
	rejected: '#8a949e',
};
const FAILURE_COLOR = '#c0392b';
const COST_COLOR = '#3a6ea5';

/** Largest first, then by name, so the same numbers always draw the same picture. */
function sortedBars(counts: Record<string, number>, color?: string): Bar[] {
	return Object.entries(counts)
		.sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
		.map(([label, value]) => ({ label, value, ...(color ? { color } : {}) }));
}

export function money(usd: number): string {
	return `$${usd.toFixed(usd < 1 ? 4 : 2)}`;
}

export function outcomesChart(outcomes: Partial<Record<ReportOutcome, number>>): Panel {
	const bars = (Object.keys(OUTCOME_COLORS) as ReportOutcome[]).map((o) => ({
		label: o,
		value: outcomes[o] ?? 0,
		color: OUTCOME_COLORS[o],
	}));
	return barChart({ title: 'Outcomes', bars, format: formatNumber, empty: 'No items yet' });
}

export function failuresChart(byCode: Record<string, number>): Panel {
	return barChart({
		title: 'Failures by code',
		bars: sortedBars(byCode, FAILURE_COLOR),
		format: formatNumber,
		empty: 'No failures',
	});
}

export function costChart(byModel: Record<string, number>, empty = 'No cost yet'): Panel {
	return barChart({
		title: 'Cost by model',
		bars: sortedBars(byModel, COST_COLOR),
		format: money,
		empty,
	});
}

export function throughputChart(points: readonly Point[], empty?: string): Panel {
	return lineChart({ title: 'Throughput', points, unit: 'items/min', empty });
}

/** Samples closer than this are measured together: one second of nothing is not a stop. */
export const MIN_SAMPLE_GAP_MS = 5000;

/**
 * Items per minute between samples of a job's status, at the later sample. A sample less than
 * MIN_SAMPLE_GAP_MS after the last measured one is skipped (the status adds a point for the
 * moment it is read, often a second after the last heartbeat: that gap would draw a false
 * drop to 0). A sample with fewer done than the one before counts 0, never a negative rate.
 */
export function throughputOfSeries(series: readonly JobStatusSample[]): Point[] {
	const points: Point[] = [];
	let from = series[0];
	for (const sample of series.slice(1)) {
		const t = Date.parse(sample.at);
		const dt = t - Date.parse(from.at);
		if (!(dt >= MIN_SAMPLE_GAP_MS)) continue;
		points.push({ t, v: (Math.max(0, sample.done - from.done) / dt) * 60_000 });
		from = sample;
	}
	return points;
}

/** Bucket widths a run's timeline is cut into: whole seconds or minutes, about 30 buckets. */
const BUCKETS_MS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600].map((s) => s * 1000);

/**
 * Items per minute over a run, from the times its items finished: counted in buckets of
 * equal width (about 30 over the run), each point at its bucket's end. Only whole buckets are
 * drawn: the last one, cut short by the run's end, would draw as a drop (or a jump) that is
 * not there. Fewer than two whole buckets make no line.
 */
export function throughputOfTimes(times: readonly number[]): Point[] {
	const sorted = times.filter(Number.isFinite).sort((a, b) => a - b);
	if (sorted.length < 2) return [];
	const start = sorted[0];
	const span = sorted[sorted.length - 1] - start;
	const width = BUCKETS_MS.find((w) => span / w <= 30) ?? BUCKETS_MS[BUCKETS_MS.length - 1];
	const whole = Math.floor(span / width);
	const counts = new Array<number>(whole).fill(0);
	for (const t of sorted) {
		const i = Math.floor((t - start) / width);
		if (i < whole) counts[i]++;
	}
	return counts.map((c, i) => ({ t: start + (i + 1) * width, v: (c * 60_000) / width }));
}
