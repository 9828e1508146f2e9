/**
 * The numbers of one limit key and the operations on them: two continuously refilled buckets
 * (requests, tokens) at `share` × the effective ceilings, and the share rule of policy.ts. Numbers
 * only (Infinity = no limit, 0 = not learned), so the Redis script keeps the same state in a flat
 * hash and runs the same operations (redis-store.ts `LIMIT_SCRIPT`).
 *
 * A bucket's level may go negative: a request larger than the capacity is let through when the
 * bucket is full and leaves a debt, instead of waiting forever.
 */
import {
	bucketCapacity,
	effectiveCeiling,
	initialShare,
	onCluster,
	type LearnedLimits,
	type ShareState,
} from './policy';

export interface LimitState extends ShareState, LearnedLimits {
	/** Lowest RPM / TPM configured by the callers now using this key. */
	ceilingRpm: number;
	ceilingTpm: number;
	/** Request and token bucket levels (NaN = full) and the instant they were last refilled. */
	reqLevel: number;
	reqAt: number;
	tokLevel: number;
	tokAt: number;
	/** Times the share was cut. */
	cuts: number;
}

export function newLimitState(now: number, rpm = Infinity, tpm = Infinity): LimitState {
	return {
		ceilingRpm: rpm,
		ceilingTpm: tpm,
		learnedRpm: 0,
		learnedTpm: 0,
		...initialShare(now),
		reqLevel: NaN, // the capacity is known only once a ceiling is
		reqAt: now,
		tokLevel: NaN,
		tokAt: now,
		cuts: 0,
	};
}

/** Effective per-minute rates admitted now. */
export function admittedRates(s: LimitState): { rpm: number; tpm: number } {
	return {
		rpm: effectiveCeiling(s.ceilingRpm, s.learnedRpm) * s.share,
		tpm: effectiveCeiling(s.ceilingTpm, s.learnedTpm) * s.share,
	};
}

/** Refills both buckets to `now` at the current rates; returns those rates. */
export function refill(s: LimitState, now: number, burst: number): { rpm: number; tpm: number } {
	const r = admittedRates(s);
	const reqCap = bucketCapacity(r.rpm, burst);
	const tokCap = bucketCapacity(r.tpm, burst);
	if (Number.isNaN(s.reqLevel)) s.reqLevel = reqCap;
	if (Number.isNaN(s.tokLevel)) s.tokLevel = tokCap;
	// Clamped every time: a lower limit (learned, cut or another run's) takes effect at once.
	if (Number.isFinite(r.rpm))
		s.reqLevel = Math.min(reqCap, s.reqLevel + (Math.max(0, now - s.reqAt) * r.rpm) / 60_000);
	if (Number.isFinite(r.tpm))
		s.tokLevel = Math.min(tokCap, s.tokLevel + (Math.max(0, now - s.tokAt) * r.tpm) / 60_000);
	s.reqAt = Math.max(s.reqAt, now);
	s.tokAt = Math.max(s.tokAt, now);
	return r;
}

/** Milliseconds until one request of `tokens` may go (0 = now). */
export function waitToSend(s: LimitState, tokens: number, now: number, burst: number): number {
	const r = refill(s, now, burst);
	let wait = 0;
	if (Number.isFinite(r.rpm) && s.reqLevel < 1)
		wait = Math.ceil(((1 - s.reqLevel) * 60_000) / r.rpm);
	if (Number.isFinite(r.tpm)) {
		const need = Math.min(tokens, bucketCapacity(r.tpm, burst));
		if (s.tokLevel < need) wait = Math.max(wait, Math.ceil(((need - s.tokLevel) * 60_000) / r.tpm));
	}
	return wait;
}

/** Takes one request of `tokens` (after {@link waitToSend} said 0). */
export function takeOne(s: LimitState, tokens: number): void {
	s.reqLevel -= 1;
	if (Number.isFinite(admittedRates(s).tpm)) s.tokLevel -= tokens;
}

/** Gives `tokens` back (negative takes more): the estimate corrected by the real usage. */
export function giveBack(s: LimitState, tokens: number, now: number, burst: number): void {
	const r = refill(s, now, burst);
	if (Number.isFinite(r.tpm))
		s.tokLevel = Math.min(bucketCapacity(r.tpm, burst), s.tokLevel + tokens);
}

/**
 * A cluster of 429s (after `onRateLimited` for the same answer): nobody sends until the next
 * request fits at the (lower) rate. Returns true when the share was cut.
 */
export function cutShare(s: LimitState, now: number): boolean {
	s.reqLevel = Math.min(s.reqLevel, 0);
	if (!onCluster(s, now, effectiveCeiling(s.ceilingRpm, s.learnedRpm))) return false;
	s.cuts++;
	return true;
}
