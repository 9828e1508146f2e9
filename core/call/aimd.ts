/**
 * The adaptive share rule as arithmetic over plain numbers: how much of the
 * effective ceiling (configured or learned limit) is admitted after 429s. One rule for every
 * place the share lives — the in-process flow controller (controller.ts), the in-memory
 * store (limit-store.ts `MemoryLimitStore`) and, line for line in Lua, the Redis script
 * (redis-store.ts `LIMIT_SCRIPT`, which interpolates these constants; a test runs the same
 * sequence through both and compares the shares).
 *
 * - A cluster of 429s (judged by the caller) cuts `share` in half, at most once a second, and
 *   sets the slow-start threshold just under where the trouble began: 0.95 × the rate of right
 *   answers since the episode's first 429 (the provider's real rate once its burst is spent),
 *   else 0.9 × the share cut (TCP's rule).
 * - Right answers let it grow back, at most once a second and only with evidence (≥ 2 of them):
 *   1.5× per step below the threshold (slow start); above it a probe adds 1 % of the threshold
 *   per step, doubling every 10 steps without a cut (CUBIC's idea: stay near the rate where
 *   trouble began, speed up when it does not come back, so a raised limit is found again).
 */

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

/** The numbers the rule keeps for one limit key. */
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
