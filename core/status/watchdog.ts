/**
 * The watchdog's judgement of a job's live status (Batch Ledger Job Status on a schedule):
 * alerts when the success rate falls under a threshold, when time per item has doubled
 * against the job's own start, or when the job has made no progress for a while. Pure: the
 * status and the time in, the alerts out; what to do with them is any n8n node's business.
 *
 * "No progress for a while" is the status's own `stalled` state (records left, no progress
 * for Job Status's stall window, or nobody left working on them): one definition of a stalled
 * job, read here, not a second one with its own clock arithmetic.
 */
import { formatDuration, formatRate, formatTime } from './format';
import type { JobStatus } from './types';

export interface WatchdogRules {
	/** 0..1: alert when the success rate is below, once `minDone` items are done. Unset: no check. */
	readonly minSuccessRate?: number;
	/** Items done before the success rate is judged (a few early failures are not a trend). @default 50 */
	readonly minDone?: number;
	/** Alert when time per item now is at least this many times the job's start. Unset: no check. */
	readonly slowdownFactor?: number;
	/** Alert when the job is `stalled` (Job Status's stall window without progress). @default false */
	readonly stalled?: boolean;
}

export const DEFAULT_MIN_DONE = 50;

export interface WatchdogAlert {
	rule: 'minSuccessRate' | 'slowdown' | 'stalled';
	job: string;
	/** `stalled`: 0; the others: the threshold set. */
	threshold: number;
	/** `stalled`: whole minutes since the last progress. */
	actual: number;
	/** When the job last finished an item (its start when it never did); null when unknown. */
	lastProgressAt: string | null;
	message: string;
}

/** The rules as a person sets them: fractions 0..1, factors above 1, minutes above 0. */
export function validateRules(rules: WatchdogRules): string[] {
	const issues: string[] = [];
	const { minSuccessRate: rate, minDone, slowdownFactor: factor } = rules;
	if (rate !== undefined && !(rate >= 0 && rate <= 1)) issues.push('minSuccessRate must be 0..1');
	if (minDone !== undefined && !(Number.isInteger(minDone) && minDone >= 0))
		issues.push('minDone must be a whole number ≥ 0');
	if (factor !== undefined && !(factor > 1)) issues.push('slowdownFactor must be above 1');
	return issues;
}

function lastProgress(s: JobStatus): string | null {
	return s.lastProgressAt ?? s.startedAt;
}

function successRate(s: JobStatus, rules: WatchdogRules): WatchdogAlert | undefined {
	const min = rules.minSuccessRate;
	if (min === undefined || s.successRate === null) return undefined;
	if (s.done < (rules.minDone ?? DEFAULT_MIN_DONE) || s.successRate >= min) return undefined;
	const codes = Object.entries(s.failedByCode).sort((a, b) => b[1] - a[1]);
	const top = codes.length > 0 ? `; most failures: ${codes[0][0]} (${codes[0][1]})` : '';
	return {
		rule: 'minSuccessRate',
		job: s.job,
		threshold: min,
		actual: s.successRate,
		lastProgressAt: lastProgress(s),
		message: `Job ${s.job}: success rate ${formatRate(s.successRate)} is below ${formatRate(min)} after ${s.done} items${top}`,
	};
}

function slowdown(s: JobStatus, rules: WatchdogRules): WatchdogAlert | undefined {
	const factor = rules.slowdownFactor;
	const { atStart, now } = s.msPerItem;
	if (factor === undefined || atStart === null || now === null || !(atStart > 0)) return undefined;
	const ratio = now / atStart;
	if (ratio < factor) return undefined;
	return {
		rule: 'slowdown',
		job: s.job,
		threshold: factor,
		actual: Math.round(ratio * 100) / 100,
		lastProgressAt: lastProgress(s),
		message: `Job ${s.job}: time per item is ${Math.round(now)} ms, ${ratio.toFixed(1)}× the ${Math.round(atStart)} ms of its start (alert at ${factor}×)`,
	};
}

function stalled(s: JobStatus, rules: WatchdogRules, now: number): WatchdogAlert | undefined {
	if (rules.stalled !== true || s.state !== 'stalled') return undefined;
	const last = lastProgress(s);
	const since = last === null ? Number.NaN : now - Date.parse(last);
	const minutes = Number.isFinite(since) ? Math.floor(since / 60_000) : 0;
	return {
		rule: 'stalled',
		job: s.job,
		threshold: 0,
		actual: minutes,
		lastProgressAt: last,
		message: `Job ${s.job}: no progress ${Number.isFinite(since) ? `for ${formatDuration(since)} ` : ''}(last progress ${formatTime(last)}; ${s.done} of ${s.total} done)`,
	};
}

/** Every rule the status breaks; `now` (ms since the epoch) says how long a stalled job has been still. */
export function evaluateWatchdog(
	status: JobStatus,
	rules: WatchdogRules,
	now: number,
): WatchdogAlert[] {
	const alerts = [successRate(status, rules), slowdown(status, rules), stalled(status, rules, now)];
	return alerts.filter((a): a is WatchdogAlert => a !== undefined);
}
