/**
 * Which OpenAI processing tier a request goes out at, and how long it may take. Flex answers
 * at the batch price but slower and only when OpenAI has capacity; a Flex Deadline (an instant
 * on the run's clock) moves what is left — items not sent yet and items waiting out a
 * `resource_unavailable` — to the standard tier, so a nightly run still finishes by morning.
 */
import type { ServiceTier } from '../types';

/** OpenAI's advice for flex requests: a client timeout of up to 15 minutes. */
export const FLEX_TIMEOUT_MS = 15 * 60_000;

export interface TierPolicy {
	/** The tier the run asks for; absent: none is sent. */
	readonly serviceTier?: ServiceTier;
	/** Run-clock instant from which flex requests go out at the standard tier. */
	readonly flexDeadlineAt?: number;
	/** Per request at the standard, priority or auto tier. */
	readonly timeoutMs: number;
	/** Per flex request. @default FLEX_TIMEOUT_MS */
	readonly flexTimeoutMs?: number;
}

/** The tier a request sent at `now` asks for. */
export function tierAt(p: TierPolicy, now: number): ServiceTier | undefined {
	if (p.serviceTier !== 'flex') return p.serviceTier;
	return p.flexDeadlineAt !== undefined && now >= p.flexDeadlineAt ? 'default' : 'flex';
}

/** Flex requests get their own (longer) timeout; every other tier the Request Timeout. */
export function timeoutAt(p: TierPolicy, tier: ServiceTier | undefined): number {
	return tier === 'flex' ? (p.flexTimeoutMs ?? FLEX_TIMEOUT_MS) : p.timeoutMs;
}

/** Milliseconds until the Flex Deadline (undefined: none, or the run is not on flex). */
export function untilFlexDeadline(p: TierPolicy, now: number): number | undefined {
	if (p.serviceTier !== 'flex' || p.flexDeadlineAt === undefined) return undefined;
	return Math.max(0, p.flexDeadlineAt - now);
}
