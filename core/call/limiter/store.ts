import { createHash } from 'node:crypto';

import type { Clock } from '../../types';
import {
	CEILING_MS,
	cutShare,
	DEFAULT_BURST_SECONDS,
	giveBack,
	newLimitState,
	onOk,
	onRateLimited,
	refill,
	takeOne,
	waitToSend,
	type LimitState,
	type RateLimits,
} from './policy';

/**
 * A caller's limits as the store sees them: the configured RPM / TPM (ceilings, as in the
 * in-process limiter) and the limits this caller last read from the provider's
 * rate-limit headers (shared through the store like everything else).
 */
export interface StoreLimits extends RateLimits {
	readonly learnedRpm?: number;
	readonly learnedTpm?: number;
}

/**
 * Where a limit key's state (policy.ts `LimitState`) lives when several processes share it. The in-memory store
 * below and the Redis store (redis-store.ts) implement the same atomic operations, so the
 * limiter over them ({@link StoreLimiter}) is the same code for one process and for several
 * queue-mode workers. Each call first refills the buckets and records the caller's ceilings
 * (lowest of the last CEILING_MS) and learned limits.
 */
export interface LimitStore {
	/**
	 * Atomically: if both buckets hold enough, take one request and `tokens` tokens. Returns 0
	 * when taken, else the milliseconds to wait.
	 */
	take(key: string, limits: StoreLimits, tokens: number): Promise<number>;
	/** Gives `tokens` back (negative takes more): the estimate corrected by the real usage. */
	adjust(key: string, limits: StoreLimits, tokens: number): Promise<void>;
	/**
	 * The shared share rule (policy.ts). `oks` in each call: right answers the caller has not
	 * reported yet, so the store counts every process's answers (the rate they come at during a
	 * 429 episode sets the threshold).
	 *
	 * A cluster of 429s: an episode may begin, then the share is cut (at most once a second,
	 * whichever process reports it) and the request bucket empties.
	 */
	cut(key: string, limits: StoreLimits, oks: number): Promise<void>;
	/** A 429 that is not a cluster: an episode of 429s may begin. */
	rateLimited(key: string, limits: StoreLimits, oks: number): Promise<void>;
	/** Right answers: counted, and the share grows back one step when the rule allows. */
	grow(key: string, limits: StoreLimits, oks: number): Promise<void>;
	/** The share and cut count as of this process's last call for `key` (no round trip). */
	adaptive(key: string): { share: number; cuts: number };
	/**
	 * The lowest RPM configured by the callers of `key` now and the RPM the provider announced
	 * (0 = none), as of this process's last call (no round trip).
	 */
	ceilings?(key: string): { ceilingRpm: number; learnedRpm: number } | undefined;
}

type StoredState = LimitState & { ceilingRpmAt: number; ceilingTpmAt: number };

/** `LimitStore`'s state operations, answered at once (a store in this process's memory). */
export interface SyncLimitOps {
	take(key: string, limits: StoreLimits, tokens: number): number;
	adjust(key: string, limits: StoreLimits, tokens: number): void;
	cut(key: string, limits: StoreLimits, oks: number): void;
	rateLimited(key: string, limits: StoreLimits, oks: number): void;
	grow(key: string, limits: StoreLimits, oks: number): void;
}

/**
 * The state the Redis script keeps, in this process's memory: the in-process limiter's store
 * (in-process.ts) and the reference the Redis store is tested against.
 */
export class MemoryLimitStore implements LimitStore {
	private readonly states = new Map<string, StoredState>();

	/**
	 * `ceilingRule`: `recent` — the lowest limits the callers of the last CEILING_MS named (callers
	 * in several processes, which never say when they end: the Redis script's rule); `given` —
	 * the limits each call names (one caller that knows its runs' live leases: in-process.ts).
	 */
	constructor(
		private readonly clock: Clock,
		private readonly ceilingRule: 'recent' | 'given' = 'recent',
	) {}

	private entry(key: string, limits: StoreLimits) {
		const now = this.clock.now();
		const burst = limits.burstSeconds ?? DEFAULT_BURST_SECONDS;
		let s = this.states.get(key);
		if (!s) {
			s = { ...newLimitState(now, limits.rpm, limits.tpm), ceilingRpmAt: now, ceilingTpmAt: now };
			this.states.set(key, s);
		}
		const given = this.ceilingRule === 'given';
		// The lowest limits configured by the callers of the last CEILING_MS; the lowest refreshes them.
		if (given || limits.rpm <= s.ceilingRpm || now - s.ceilingRpmAt > CEILING_MS) {
			s.ceilingRpm = limits.rpm;
			s.ceilingRpmAt = now;
		}
		if (given || limits.tpm <= s.ceilingTpm || now - s.ceilingTpmAt > CEILING_MS) {
			s.ceilingTpm = limits.tpm;
			s.ceilingTpmAt = now;
		}
		if ((limits.learnedRpm ?? 0) > 0) s.learnedRpm = limits.learnedRpm!;
		if ((limits.learnedTpm ?? 0) > 0) s.learnedTpm = limits.learnedTpm!;
		// Refilled at the rate these ceilings set, as the Redis script does.
		refill(s, now, burst);
		return { s, now, burst };
	}

	/**
	 * The store's operations answered at once, for a caller in this process (in-process.ts): the
	 * same code as the `LimitStore` methods below, without a turn of the event loop per request.
	 */
	readonly sync: SyncLimitOps = {
		take: (key, limits, tokens) => {
			const { s, now, burst } = this.entry(key, limits);
			const wait = waitToSend(s, tokens, now, burst);
			if (wait > 0) return wait;
			takeOne(s, tokens);
			return 0;
		},
		adjust: (key, limits, tokens) => {
			const { s, now, burst } = this.entry(key, limits);
			giveBack(s, tokens, now, burst);
		},
		cut: (key, limits, oks) => {
			const { s, now } = this.entry(key, limits);
			s.okTotal += oks;
			onRateLimited(s, now);
			cutShare(s, now);
		},
		rateLimited: (key, limits, oks) => {
			const { s, now } = this.entry(key, limits);
			s.okTotal += oks;
			onRateLimited(s, now);
		},
		grow: (key, limits, oks) => {
			const { s, now } = this.entry(key, limits);
			onOk(s, now, oks);
		},
	};

	async take(key: string, limits: StoreLimits, tokens: number): Promise<number> {
		return this.sync.take(key, limits, tokens);
	}

	async adjust(key: string, limits: StoreLimits, tokens: number): Promise<void> {
		this.sync.adjust(key, limits, tokens);
	}

	async cut(key: string, limits: StoreLimits, oks: number): Promise<void> {
		this.sync.cut(key, limits, oks);
	}

	async rateLimited(key: string, limits: StoreLimits, oks: number): Promise<void> {
		this.sync.rateLimited(key, limits, oks);
	}

	async grow(key: string, limits: StoreLimits, oks: number): Promise<void> {
		this.sync.grow(key, limits, oks);
	}

	adaptive(key: string): { share: number; cuts: number } {
		const s = this.states.get(key);
		return { share: s?.share ?? 1, cuts: s?.cuts ?? 0 };
	}

	ceilings(key: string): { ceilingRpm: number; learnedRpm: number } | undefined {
		const s = this.states.get(key);
		return s && { ceilingRpm: s.ceilingRpm, learnedRpm: s.learnedRpm };
	}

	/** A copy of `key`'s numbers (what the Redis hash holds), undefined before its first call. */
	state(key: string): Readonly<StoredState> | undefined {
		const s = this.states.get(key);
		return s && { ...s };
	}
}

/**
 * The key a limit is shared under: a hash of provider + base URL + API key + model, so two runs
 * (or two processes, through Redis) using the same account and model meet, and the API key
 * itself is never kept.
 */
export function limitKey(identity: {
	provider: string;
	baseUrl: string;
	apiKey: string;
	model: string;
}): string {
	return createHash('sha256')
		.update([identity.provider, identity.baseUrl, identity.apiKey, identity.model].join('\u0000'))
		.digest('hex');
}
