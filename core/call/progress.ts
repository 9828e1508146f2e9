import type { RunStats } from './types';
import type { Clock } from '../types';
import { everyInterval } from '../clock';

function money(usd: number, unknown: boolean): string {
	return unknown && usd === 0 ? 'n/a' : `$${usd.toFixed(usd < 1 ? 4 : 2)}${unknown ? '+' : ''}`;
}

function duration(ms: number): string {
	if (!Number.isFinite(ms)) return '?';
	const s = Math.round(ms / 1000);
	if (s < 60) return `${s}s`;
	const m = Math.floor(s / 60);
	if (m < 60) return `${m}m${String(s % 60).padStart(2, '0')}s`;
	return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

/** Items per minute since the start, and the time the rest needs at that rate. */
export function rateAndEta(s: RunStats, now: number): { perMinute: number; etaMs: number } {
	const elapsed = Math.max(1, now - s.startedAt);
	const perMinute = (s.done / elapsed) * 60_000;
	const left = s.total - s.done;
	const etaMs = left === 0 ? 0 : perMinute > 0 ? (left / perMinute) * 60_000 : Infinity;
	return { perMinute, etaMs };
}

function rpm(n: number): string {
	return Math.round(n).toLocaleString('en-US');
}

/**
 * Who else draws from the budget, in words a user can act on: the executions (of this or other
 * workflows) using the same credential, base URL and model — in this n8n process, or, through
 * Redis, on any queue-mode worker or n8n process sharing that Redis.
 */
function sharedWithWhom(f: NonNullable<RunStats['flow']>): string {
	const same = 'using the same credential, base URL and model';
	if (f.sharedThrough === 'redis')
		return `shares the budget through Redis with other executions ${same} (on any worker or n8n process using this Redis)`;
	const others =
		f.sharedWith > 0
			? `${f.sharedWith} other execution${f.sharedWith === 1 ? '' : 's'}`
			: 'another execution';
	return `shares the budget with ${others} in this n8n process ${same}`;
}

/**
 * What the flow controller settled on, when it is not simply the configured rate:
 * "settled at 1,180 RPM of 2,400 configured: the provider limits lower".
 */
export function formatFlow(s: RunStats): string {
	const f = s.flow;
	if (!f || !Number.isFinite(f.configuredRpm)) return '';
	const parts: string[] = [];
	if (f.lowestConfiguredRpm < f.configuredRpm) {
		parts.push(
			`${sharedWithWhom(f)}: the lowest limit set among them applies, ${rpm(f.lowestConfiguredRpm)} RPM`,
		);
	}
	if (f.settledRpm < f.configuredRpm * 0.98) {
		const why =
			f.learnedRpm !== undefined
				? `the provider limits lower (its headers say ${rpm(f.learnedRpm)} RPM)`
				: f.cuts > 0
					? 'the provider limits lower (429s)'
					: f.lowestConfiguredRpm < f.configuredRpm
						? 'another execution on this credential and model set a lower limit'
						: 'recovering after 429s';
		parts.unshift(
			`settled at ${rpm(f.settledRpm)} RPM of ${rpm(f.configuredRpm)} configured: ${why}`,
		);
	}
	const c = s.concurrency;
	if (c && c.limit < c.ceiling) parts.push(`${c.limit} of ${c.ceiling} requests in flight`);
	if (s.circuitOpenings)
		parts.push(
			`paused for ${s.circuitOpenings} provider outage${s.circuitOpenings === 1 ? '' : 's'}`,
		);
	return parts.join(' · ');
}

/** One line, for the server log while a run is under way. */
export function formatProgress(s: RunStats, now: number, label = 'LLM Batch Call'): string {
	const { perMinute, etaMs } = rateAndEta(s, now);
	const pct = s.total === 0 ? 100 : Math.floor((s.done / s.total) * 100);
	return (
		`${label}: ${s.done}/${s.total} done (${pct} %) · ${s.succeeded} ok · ${s.failed} failed · ` +
		`${s.retries} retries · ${s.rateLimited} × 429 · tokens ${s.inputTokens} in / ${s.outputTokens} out · ` +
		`cost ${money(s.costUsd, s.costUnknown)} · ${Math.round(perMinute)} items/min · ETA ${duration(etaMs)}` +
		(formatFlow(s) ? ` · ${formatFlow(s)}` : '')
	);
}

/** The end-of-run summary shown as an execution hint. */
export function formatSummary(s: RunStats, now: number): string {
	const elapsed = now - s.startedAt;
	const codes = Object.entries(s.failuresByCode)
		.map(([code, n]) => `${code} ${n}`)
		.join(', ');
	const parts = [
		`${s.succeeded} of ${s.total} items succeeded, ${s.failed} failed${codes ? ` (${codes})` : ''}`,
		s.cached > 0 ? `${s.cached} reused from the ledger` : '',
		`${s.retries} retries, ${s.rateLimited} rate-limit waits`,
		s.reasks + s.freshFixes > 0
			? `invalid answers fixed by ${s.reasks} re-asks and ${s.freshFixes} fresh calls`
			: '',
		`tokens ${s.inputTokens} in / ${s.outputTokens} out, cost ${money(s.costUsd, s.costUnknown)}`,
		`${duration(elapsed)} at ${Math.round(rateAndEta(s, now).perMinute)} items/min`,
		formatFlow(s),
		s.keptAfterStop ? `${s.keptAfterStop} answers in flight at the stop were kept` : '',
	];
	let text = parts.filter(Boolean).join(' · ');
	if (s.stopped) text += ` · stopped early: ${s.stopped.code} (${s.stopped.message})`;
	return text;
}

/**
 * Logs `formatProgress` every `intervalMs` until `done` settles, so a long run in the
 * server log is never a silent wait. Returns when `done` settles.
 */
export async function reportProgress(
	done: Promise<unknown>,
	stats: RunStats,
	o: { clock: Clock; intervalMs: number; log: (line: string) => void; label?: string },
): Promise<void> {
	if (!(o.intervalMs > 0)) return;
	await everyInterval(o.clock, o.intervalMs, done, () =>
		o.log(formatProgress(stats, o.clock.now(), o.label)),
	);
}
