/**
 * Stop When Failures Exceed: a run whose prompt, schema or model broke fails item after item
 * for a reason no retry fixes — and pays for each — until its end; the circuit breaker does
 * not see it (it counts outages, not bad answers). This watch keeps the last `window`
 * answered items of a call (every model of its chain) and trips once more than `percent` %
 * of them failed with a non-transient code; the caller stops the run, and the message names
 * the code that dominated with one example. Counted in items, not time: the same answers
 * give the same stop.
 */
import { redactSecrets } from '../redact';
import type { ErrorCode } from '../types';

/** Failures a retry does not fix: the prompt, the schema or the model is at fault. */
export const NON_TRANSIENT_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
	'invalid_request',
	'schema_violation',
	'malformed_output',
	'content_filter',
]);

/** Longest example message the stop quotes. */
const EXAMPLE_CHARS = 160;

export interface FailureRateOptions {
	/** Share of the window, in %, the failures must exceed; 0 = never stop. */
	readonly percent: number;
	/** Answered items the share is taken over; nothing trips before this many answered. */
	readonly window: number;
}

/** Why the run stopped. */
export interface FailureRateTrip {
	/** The code most of the window's failures had. */
	readonly code: ErrorCode;
	/** Failures in the window (any non-transient code), and of them with `code`. */
	readonly failed: number;
	readonly ofCode: number;
	readonly window: number;
	/** One message of a `code` failure, redacted and shortened. */
	readonly example: string;
	readonly message: string;
}

/** One answered item's end, as the watch sees it. */
export type Answered = 'ok' | { readonly code: ErrorCode; readonly message: string };

export class FailureRateWatch {
	/** The window as a ring: a counted failure's code, or undefined for anything else. */
	private readonly ring: Array<ErrorCode | undefined>;
	private next = 0;
	private filled = 0;
	private readonly byCode = new Map<ErrorCode, number>();
	/** The latest message per code (an example for the stop). */
	private readonly examples = new Map<ErrorCode, string>();
	private readonly listeners: Array<(trip: FailureRateTrip) => void> = [];
	private trip: FailureRateTrip | undefined;

	constructor(readonly options: FailureRateOptions) {
		const { percent, window } = options;
		if (!(percent >= 0 && percent <= 100))
			throw new TypeError(`Expected \`percent\` to be in [0, 100], got ${percent}`);
		if (!Number.isInteger(window) || window < 1)
			throw new TypeError(`Expected \`window\` to be an integer >= 1, got ${window}`);
		this.ring = new Array<ErrorCode | undefined>(percent > 0 ? window : 0);
	}

	/** Why the watch tripped, once it has. */
	get tripped(): FailureRateTrip | undefined {
		return this.trip;
	}

	/** Called once, when the watch trips (at once if it already has). */
	onTrip(listener: (trip: FailureRateTrip) => void): void {
		if (this.trip) listener(this.trip);
		else this.listeners.push(listener);
	}

	/** An item the provider answered ended: a result, or a failure with its code. */
	record(answered: Answered): void {
		if (this.ring.length === 0 || this.trip) return;
		const code =
			answered === 'ok' || !NON_TRANSIENT_CODES.has(answered.code) ? undefined : answered.code;
		const leaving = this.filled === this.ring.length ? this.ring[this.next] : undefined;
		if (leaving) this.byCode.set(leaving, this.byCode.get(leaving)! - 1);
		this.ring[this.next] = code;
		this.next = (this.next + 1) % this.ring.length;
		this.filled = Math.min(this.filled + 1, this.ring.length);
		if (code) {
			this.byCode.set(code, (this.byCode.get(code) ?? 0) + 1);
			this.examples.set(code, (answered as { message: string }).message);
		}
		if (this.filled === this.ring.length) this.judge();
	}

	private judge(): void {
		let failed = 0;
		let top: ErrorCode | undefined;
		for (const [code, n] of this.byCode) {
			failed += n;
			if (top === undefined || n > this.byCode.get(top)!) top = code;
		}
		const { percent, window } = this.options;
		if (top === undefined || failed * 100 <= percent * window) return;
		const ofCode = this.byCode.get(top)!;
		const example = shorten(redactSecrets(this.examples.get(top) ?? ''));
		const share = Math.round((failed * 100) / window);
		this.trip = {
			code: top,
			failed,
			ofCode,
			window,
			example,
			message: `${failed} of the last ${window} answered items failed (${share} %, over Stop When Failures Exceed ${percent} %), most with ${top} (${ofCode}), e.g. "${example}"; fix the prompt, schema or model, then rerun the failed items`,
		};
		for (const listener of this.listeners.splice(0)) listener(this.trip);
	}
}

function shorten(text: string): string {
	const line = text.replace(/\s+/g, ' ').trim();
	return line.length > EXAMPLE_CHARS ? `${line.slice(0, EXAMPLE_CHARS)}…` : line;
}
