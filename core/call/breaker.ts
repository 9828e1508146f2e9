import { onAbort } from '../abort';
import type { Clock, ErrorCode } from '../types';

export interface BreakerOptions {
	/** Share of provider-side failures in the window that opens the circuit. @default 0.5 */
	readonly threshold?: number;
	/** Counted outcomes the window must hold before the breaker may open. @default 20 */
	readonly minSamples?: number;
	/**
	 * Counted outcomes the window keeps (the most recent). Small, so an outage after a long
	 * healthy stretch opens it after about `windowSize * threshold` failures. @default 40
	 */
	readonly windowSize?: number;
	/** Outcomes older than this leave the window too. @default 60000 */
	readonly windowMs?: number;
	/**
	 * Different items among the window's failures before it may open: an outage fails many
	 * items, while a few prompts the provider always 500s on must not stop a run. @default 10
	 */
	readonly minFailingItems?: number;
	/** Wait before the first half-open probe; doubles after each failed probe. @default 5000 */
	readonly cooldownMs?: number;
	/** Longest wait between two probes. @default 60000 */
	readonly maxCooldownMs?: number;
	/** Open this long without a successful probe: the run ends with `circuit_open`. @default 600000 */
	readonly outageMs?: number;
}

/**
 * Provider-side failures: what an outage looks like. Everything else belongs to one item or to
 * the rate limit — and Flex's 429 `resource_unavailable` to neither: the provider answered, it
 * had no flex capacity, so it is never counted (and a probe answered with it closes the circuit).
 */
const OUTAGE_CODES: ReadonlySet<ErrorCode> = new Set(['server_error', 'timeout', 'connection']);

const MAX_KEPT = 1024;

export type BreakerState = 'closed' | 'open' | 'half-open';

/**
 * A breaker for outages, not noise. Only provider-side failures (5xx, timeouts,
 * connection errors) count against the provider; 429s, refusals, malformed output and bad
 * input neither open nor close it. It opens when at least `threshold` of at least
 * `minSamples` outcomes in the last `windowMs` failed; while open nobody sends. After the
 * cooldown ONE request probes (half-open): success closes the circuit and wakes everyone;
 * failure reopens it with a doubled cooldown. Only an outage longer than `outageMs` ends the
 * run (`expired`).
 */
export class CircuitBreaker {
	readonly threshold: number;
	readonly minSamples: number;
	readonly windowSize: number;
	readonly windowMs: number;
	readonly minFailingItems: number;
	readonly cooldownMs: number;
	readonly maxCooldownMs: number;
	readonly outageMs: number;
	private readonly times = new Float64Array(MAX_KEPT);
	private readonly failed = new Uint8Array(MAX_KEPT);
	private readonly items = new Float64Array(MAX_KEPT);
	private head = 0; // index of the oldest kept outcome
	private size = 0;
	private failures = 0;
	private stateNow: BreakerState = 'closed';
	private outageStartedAt: number | undefined;
	private nextProbeAt = 0;
	private cooldown: number;
	private probing = false;
	private opened = 0;
	/** Failure share of the window when the circuit last opened. */
	openedAtShare = 0;
	private changed = new AbortController();

	constructor(
		o: BreakerOptions = {},
		private readonly clock?: Clock,
	) {
		this.threshold = o.threshold ?? 0.5;
		this.minSamples = o.minSamples ?? 20;
		this.windowSize = o.windowSize ?? 40;
		this.windowMs = o.windowMs ?? 60_000;
		this.minFailingItems = o.minFailingItems ?? 10;
		this.cooldownMs = o.cooldownMs ?? 5_000;
		this.maxCooldownMs = o.maxCooldownMs ?? 60_000;
		this.outageMs = o.outageMs ?? 600_000;
		this.cooldown = this.cooldownMs;
		if (!(this.threshold > 0 && this.threshold <= 1))
			throw new TypeError(`Expected \`threshold\` to be in (0, 1], got ${this.threshold}`);
		if (!Number.isInteger(this.windowSize) || this.windowSize < 1 || this.windowSize > MAX_KEPT)
			throw new TypeError(
				`Expected \`windowSize\` to be an integer in [1, ${MAX_KEPT}], got ${this.windowSize}`,
			);
		if (
			!Number.isInteger(this.minSamples) ||
			this.minSamples < 1 ||
			this.minSamples > this.windowSize
		)
			throw new TypeError(
				`Expected \`minSamples\` to be an integer in [1, windowSize], got ${this.minSamples}`,
			);
		for (const k of ['windowMs', 'cooldownMs', 'maxCooldownMs', 'outageMs'] as const)
			if (!(this[k] >= 0)) throw new TypeError(`Expected \`${k}\` to be >= 0, got ${this[k]}`);
	}

	/** Whether `code` says anything about the provider's health (and which way). */
	static counts(code: ErrorCode | 'ok'): boolean {
		return code === 'ok' || OUTAGE_CODES.has(code);
	}

	get state(): BreakerState {
		return this.stateNow;
	}

	/** Outages in this run: times the circuit opened from closed (a failed probe is the same outage). */
	get openings(): number {
		return this.opened;
	}

	/** Open or half-open: nobody but the probe may send. */
	get isOpen(): boolean {
		return this.stateNow !== 'closed';
	}

	get failureShare(): number {
		return this.size === 0 ? 0 : this.failures / this.size;
	}

	/** The outage has lasted `outageMs` and the last probe failed: stop the run. */
	get expired(): boolean {
		return (
			this.stateNow !== 'closed' &&
			!this.probing &&
			this.outageStartedAt !== undefined &&
			this.now() - this.outageStartedAt >= this.outageMs
		);
	}

	/** Milliseconds the current outage has lasted (0 when closed). */
	get outageLastedMs(): number {
		return this.outageStartedAt === undefined ? 0 : this.now() - this.outageStartedAt;
	}

	private now(): number {
		return this.clock?.now() ?? 0;
	}

	private expire(now: number): void {
		while (this.size > 0 && now - this.times[this.head] >= this.windowMs) {
			this.failures -= this.failed[this.head];
			this.head = (this.head + 1) % MAX_KEPT;
			this.size--;
		}
	}

	private push(now: number, bit: number, item: number): void {
		if (this.size === this.windowSize) {
			this.failures -= this.failed[this.head];
			this.head = (this.head + 1) % MAX_KEPT;
			this.size--;
		}
		const at = (this.head + this.size) % MAX_KEPT;
		this.times[at] = now;
		this.failed[at] = bit;
		this.items[at] = item;
		this.failures += bit;
		this.size++;
	}

	/** Different items among the failures in the window (unknown items count one each). */
	private failingItems(): number {
		const seen = new Set<number>();
		let unknown = 0;
		for (let k = 0; k < this.size; k++) {
			const at = (this.head + k) % MAX_KEPT;
			if (this.failed[at] === 0) continue;
			const id = this.items[at];
			if (Number.isNaN(id)) unknown++;
			else seen.add(id);
		}
		return seen.size + unknown;
	}

	private clear(): void {
		this.head = 0;
		this.size = 0;
		this.failures = 0;
	}

	private transition(to: BreakerState): void {
		this.stateNow = to;
		const c = this.changed;
		this.changed = new AbortController();
		c.abort();
	}

	private open(now: number): void {
		if (this.outageStartedAt === undefined) {
			this.opened++;
			this.outageStartedAt = now;
		}
		this.nextProbeAt = Math.min(now + this.cooldown, this.outageStartedAt + this.outageMs);
		this.cooldown = Math.min(this.maxCooldownMs, this.cooldown * 2);
		this.transition('open');
	}

	/**
	 * Records one answered attempt. `probe` marks the half-open request that `admit` let
	 * through. Returns true when the circuit is open (or half-open) after it.
	 */
	record(outcome: ErrorCode | 'ok', probe = false, item = NaN): boolean {
		const now = this.now();
		if (probe) this.probing = false;
		if (!CircuitBreaker.counts(outcome)) {
			// A probe answered with something that says nothing about the provider's health
			// (a 429, a refusal): the provider is up.
			if (probe && this.stateNow !== 'closed') this.close();
			return this.isOpen;
		}
		const bit = outcome === 'ok' ? 0 : 1;
		if (this.stateNow !== 'closed') {
			if (probe) {
				if (bit === 0) this.close();
				else this.open(now);
			} else if (bit === 0 && this.stateNow === 'open') {
				// A request sent before the circuit opened got through: the provider may be back.
				this.nextProbeAt = Math.min(this.nextProbeAt, now);
			}
			return this.isOpen;
		}
		this.expire(now);
		this.push(now, bit, item);
		if (
			this.size >= this.minSamples &&
			this.failures / this.size >= this.threshold &&
			this.failingItems() >= this.minFailingItems
		) {
			this.openedAtShare = this.failures / this.size;
			this.clear();
			this.cooldown = this.cooldownMs;
			this.open(now);
		}
		return this.isOpen;
	}

	private close(): void {
		this.clear();
		this.outageStartedAt = undefined;
		this.cooldown = this.cooldownMs;
		this.transition('closed');
	}

	/**
	 * Resolves when a request may be sent: `'go'` when closed, `'probe'` for the one half-open
	 * request (its answer must be recorded with `probe = true`), `'expired'` when the outage
	 * outlasted `outageMs`. Waits without spending anything while open.
	 */
	async admit(signal?: AbortSignal): Promise<'go' | 'probe' | 'expired'> {
		for (;;) {
			signal?.throwIfAborted();
			if (this.stateNow === 'closed') return 'go';
			if (this.expired) return 'expired';
			const now = this.now();
			if (!this.probing && now >= this.nextProbeAt) {
				this.probing = true;
				this.transition('half-open');
				return 'probe';
			}
			if (!this.clock) throw new Error('CircuitBreaker.admit needs a clock');
			const changed = this.changed.signal;
			const wake = new AbortController();
			const detach = [
				onAbort(changed, () => wake.abort()),
				signal ? onAbort(signal, () => wake.abort()) : undefined,
			];
			try {
				// While a probe is out, wait for its answer (or the next probe time if it is lost).
				const wait = this.probing
					? Math.max(this.cooldownMs, 1)
					: Math.max(1, this.nextProbeAt - now);
				await this.clock.sleep(wait, wake.signal);
			} catch {
				// woken by a state change or the caller's abort: the loop head decides
			} finally {
				for (const d of detach) d?.();
			}
		}
	}

	/** A probe that was never answered (the run stopped): let another request probe. */
	releaseProbe(): void {
		if (this.probing) {
			this.probing = false;
			if (this.stateNow === 'half-open') this.transition('open');
		}
	}
}
