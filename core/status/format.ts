/** How the status page and the watchdog's messages write times, durations and money. */

/** 754_000 -> '12m 34s'; 0 -> '0s'; null -> '–'. */
export function formatDuration(ms: number | null): string {
	if (ms === null || !Number.isFinite(ms)) return '–';
	const s = Math.max(0, Math.round(ms / 1000));
	if (s < 60) return `${s}s`;
	const m = Math.floor(s / 60);
	if (m < 60) return `${m}m ${s % 60}s`;
	const h = Math.floor(m / 60);
	if (h < 48) return `${h}h ${m % 60}m`;
	return `${Math.floor(h / 24)}d ${h % 24}h`;
}

/** An ISO time as '2026-12-06 10:31:05 UTC' (the same for every reader, whatever their zone). */
export function formatTime(iso: string | null): string {
	if (iso === null) return '–';
	const ms = Date.parse(iso);
	if (!Number.isFinite(ms)) return '–';
	return `${new Date(ms).toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}

/** 0.9532 -> '95.3 %'; null -> '–'. */
export function formatRate(rate: number | null): string {
	return rate === null || !Number.isFinite(rate)
		? '–'
		: `${(Math.round(rate * 1000) / 10).toFixed(1)} %`;
}

/** An integer with thousands separators, the same in every locale. */
export function formatCount(n: number): string {
	return Math.round(n).toLocaleString('en-US');
}
