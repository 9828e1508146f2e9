/** Number formatting shared by the report's Markdown and alert messages. */

/** Nearest-rank percentile of ascending `sorted`. */
export function percentile(sorted: readonly number[], p: number): number | null {
	if (sorted.length === 0) return null;
	const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
	return sorted[Math.min(sorted.length, rank) - 1];
}

export const round = (n: number, digits: number) => Math.round(n * 10 ** digits) / 10 ** digits;

export function pct(part: number, whole: number): string {
	return whole === 0 ? '–' : `${(Math.round((part / whole) * 1000) / 10).toFixed(1)} %`;
}

export function duration(ms: number | null): string {
	if (ms === null) return '–';
	const s = Math.round(ms / 1000);
	if (s < 60) return `${s}s`;
	const m = Math.floor(s / 60);
	if (m < 60) return `${m}m ${s % 60}s`;
	return `${Math.floor(m / 60)}h ${m % 60}m`;
}

export function money(usd: number): string {
	return `$${usd.toFixed(usd < 1 ? 4 : 2)}`;
}
