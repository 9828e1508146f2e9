/**
 * The rate-limit policy as arithmetic over plain numbers: one rule for both places a limit key's
 * state lives — the in-memory store (store.ts; the in-process limiter keeps its state there) and,
 * line for line in Lua, the Redis script (redis-store.ts `LIMIT_SCRIPT`, which interpolates these
 * constants; a test runs the same sequence through both and compares).
 *
 * - The configured RPM / TPM are ceilings, not targets: `share` of the effective ceiling (the
 *   lower of the configured limit and the one the provider's rate-limit headers announce) is
 *   admitted, through two continuously refilled buckets (requests, tokens).
 * - A cluster of 429s (or one that says the budget is spent) cuts `share` in half, at most once a
 *   second, and sets the slow-start threshold just under where the trouble began: 0.95 × the rate
 *   of right answers since the episode's first 429 (the provider's real rate once its burst is
 *   spent), else 0.9 × the share cut (TCP's rule). An isolated 429 slows nobody.
 * - Right answers let it grow back, at most once a second and only with evidence (≥ 2 of them):
 *   1.5× per step below the threshold (slow start); above it a probe adds 1 % of the threshold
 *   per step, doubling every 10 steps without a cut (CUBIC's idea: stay near the rate where
 *   trouble began, speed up when it does not come back, so a raised limit is found again).
 */
import type { RateLimitInfo } from '../rate-headers';

export const SHARE_RULE = {
	/** At most one cut per this long, whoever reports the cluster. */
	cutSpacingMs: 1_000,
	/** At most one growth step per this long. */
	growEveryMs: 1_000,
	/** Right answers needed since the last step before the next one. */
	growEvidence: 2,
	minShare: 0.02,
	/** Multiplicative decrease on a cluster of 429s (TCP's). */
	cutFactor: 0.5,
	/** Slow start: growth per step below the threshold. */
	slowStart: 1.5,
	/** Where slow start stops: this share of the rate the provider answered at when 429s began. */
	belowLimit: 0.95,
	/** Without a measured rate: this share of the share that was cut. */
	belowCut: 0.9,
	/** The probe above the threshold: this share of it per step... */
	probeStep: 0.01,
	/** ...twice that after this many steps without a cut, and so on. */
	probeDoublingSteps: 10,
	/** The shortest 429 episode whose right answers measure the provider's rate. */
	episodeMinMs: 500,
	episodeMinOk: 5,
} as const;

/**
 * Seconds of traffic the buckets may release at once: small, so a fresh limiter does not fire a
 * burst the provider's own (shorter-window) enforcement rejects, and half of the one second
 * providers allow: the other half absorbs network jitter and estimate error.
 */
export const DEFAULT_BURST_SECONDS = 0.5;

export interface RateLimits {
	/** Requests per minute; Infinity for none. */
	readonly rpm: number;
	/** Tokens per minute (input estimate + max output, as OpenAI counts); Infinity for none. */
	readonly tpm: number;
	/** @default DEFAULT_BURST_SECONDS */
	readonly burstSeconds?: number;
}

export function validateLimits(l: RateLimits): void {
	if (!(l.rpm > 0)) throw new TypeError(`Expected \`rpm\` to be a number > 0, got ${l.rpm}`);
	if (!(l.tpm > 0)) throw new TypeError(`Expected \`tpm\` to be a number > 0, got ${l.tpm}`);
	if (l.burstSeconds !== undefined && !(l.burstSeconds > 0))
		throw new TypeError(`Expected \`burstSeconds\` to be > 0, got ${l.burstSeconds}`);
}

/** The numbers the share rule keeps for one limit key. */
export interface ShareState {
	/** Fraction of the effective ceiling admitted now, in (0, 1]. */
	share: number;
	/** Slow-start threshold for `share`. */
	ssthresh: number;
	lastCutAt: number;
	lastGrowAt: number;
	/** Right answers since the last growth step. */
	okSinceGrow: number;
	/** Right answers so far. */
	okTotal: number;
	/** When the current episode of 429s began (-1 = none) and `okTotal` then. */
	episodeAt: number;
	episodeOk: number;
	/** Growth steps at or above `ssthresh` since the last cut. */
	probeSteps: number;
}

export function initialShare(now: number): ShareState {
	return {
		share: 1,
		ssthresh: 1,
		lastCutAt: -Infinity,
		lastGrowAt: now,
		okSinceGrow: 0,
		okTotal: 0,
		episodeAt: -1,
		episodeOk: 0,
		probeSteps: 0,
	};
}

/**
 * A 429: an episode begins unless one is running or a cut was just made (the stragglers
 * already in flight at a cut are not a new episode). From here on the provider's burst is
 * spent, so the right answers it still gives come at its real rate.
 */
export function onRateLimited(s: ShareState, now: number): void {
	if (s.episodeAt < 0 && now - s.lastCutAt >= SHARE_RULE.cutSpacingMs) {
		s.episodeAt = now;
		s.episodeOk = s.okTotal;
	}
}

/**
 * A cluster of 429s (after {@link onRateLimited} for the same answer). `ceilingRpm` is the
 * effective RPM ceiling at share 1 (Infinity or 0 = none). Returns true when the share was cut.
 */
export function onCluster(s: ShareState, now: number, ceilingRpm: number): boolean {
	if (now - s.lastCutAt < SHARE_RULE.cutSpacingMs) return false;
	// Neither the admitted rate when the cluster is noticed nor the answers before the first
	// 429 will do: both include the provider's burst, above its limit.
	const span = now - s.episodeAt;
	const oks = s.okTotal - s.episodeOk;
	const real =
		s.episodeAt >= 0 &&
		span >= SHARE_RULE.episodeMinMs &&
		oks >= SHARE_RULE.episodeMinOk &&
		ceilingRpm > 0 &&
		Number.isFinite(ceilingRpm)
			? ((oks / span) * 60_000) / ceilingRpm
			: Infinity;
	s.episodeAt = -1;
	s.ssthresh = Math.max(
		SHARE_RULE.minShare,
		Math.min(s.share * SHARE_RULE.belowCut, real * SHARE_RULE.belowLimit),
	);
	s.share = Math.max(SHARE_RULE.minShare, Math.min(s.share * SHARE_RULE.cutFactor, s.ssthresh));
	s.lastCutAt = now;
	s.lastGrowAt = now;
	s.okSinceGrow = 0;
	s.probeSteps = 0;
	return true;
}

/** `n` right answers: counted, and the share grows one step when the rule allows. */
export function onOk(s: ShareState, now: number, n = 1): void {
	s.okTotal += n;
	s.okSinceGrow += n;
	if (
		s.share >= 1 ||
		now - s.lastGrowAt < SHARE_RULE.growEveryMs ||
		s.okSinceGrow < SHARE_RULE.growEvidence
	)
		return;
	if (s.share < s.ssthresh) s.share = Math.min(s.ssthresh, s.share * SHARE_RULE.slowStart);
	else {
		s.probeSteps++;
		const speed = 2 ** Math.floor((s.probeSteps - 1) / SHARE_RULE.probeDoublingSteps);
		s.share = Math.min(1, s.share + SHARE_RULE.probeStep * s.ssthresh * speed);
	}
	s.lastGrowAt = now;
	s.okSinceGrow = 0;
}

/** How 429s are judged a cluster: counts decayed with this time constant... */
export const DECAY_MS = 2_000;
/** ...a 429 is part of a cluster when 429s are at least this share of the recent answers... */
export const CLUSTER_SHARE = 0.1;
/** ...and at least this many (decayed) 429s were seen. */
export const CLUSTER_MIN = 3;

/** Exponentially decayed counts (time constant DECAY_MS) of 429s and of all answers. */
export interface RecentAnswers {
	recent429: number;
	recentAll: number;
	recentAt: number;
}

/** Counts one answer into `r`. */
export function countAnswer(r: RecentAnswers, rateLimited: boolean, now: number): void {
	const decay = Math.exp(-Math.max(0, now - r.recentAt) / DECAY_MS);
	r.recent429 = r.recent429 * decay + (rateLimited ? 1 : 0);
	r.recentAll = r.recentAll * decay + 1;
	r.recentAt = now;
}

/**
 * A 429 (already counted into `r`) slows everybody down when it is part of a cluster or says
 * the budget is spent; when its headers say budget is left, it is the caller's alone to wait out.
 */
export function isCluster(r: RecentAnswers, rl: RateLimitInfo | undefined): boolean {
	const spent =
		rl !== undefined &&
		((rl.remainingRequests !== undefined && rl.remainingRequests < 1) ||
			(rl.remainingTokens !== undefined && rl.remainingTokens < 1));
	const budgetLeft =
		rl !== undefined &&
		!spent &&
		(rl.remainingRequests !== undefined || rl.remainingTokens !== undefined);
	return (
		spent ||
		(!budgetLeft && r.recent429 >= CLUSTER_MIN && r.recent429 / r.recentAll >= CLUSTER_SHARE)
	);
}

/** Limits announced by the provider's rate-limit headers (0 = none seen). */
export interface LearnedLimits {
	learnedRpm: number;
	learnedTpm: number;
}

export function learnLimits(s: LearnedLimits, rl: RateLimitInfo | undefined): void {
	if (rl?.limitRequests !== undefined && rl.limitRequests > 0) s.learnedRpm = rl.limitRequests;
	if (rl?.limitTokens !== undefined && rl.limitTokens > 0) s.learnedTpm = rl.limitTokens;
}

/** The configured ceiling, or the learned limit (0 = none) when it is lower. */
export function effectiveCeiling(configured: number, learned: number): number {
	return learned > 0 ? Math.min(configured, learned) : configured;
}

/**
 * A caller's configured limits hold the others down for this long after its last call to the
 * store (Redis, `MemoryLimitStore`): the lowest of the runs using a key now is the ceiling (a lease that needs no release).
 */
export const CEILING_MS = 15_000;

export function bucketCapacity(perMinute: number, burstSeconds: number): number {
	return Math.max(1, (perMinute / 60) * burstSeconds);
}

/**
 * The numbers of one limit key (Infinity = no limit, 0 = not learned; numbers only, so the
 * Redis script keeps them in a flat hash) and the operations on them: two continuously refilled
 * buckets (requests, tokens) at `share` × the effective ceilings. A bucket's level may go
 * negative: a request larger than the capacity is let through when the bucket is full and
 * leaves a debt, instead of waiting forever.
 */
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
