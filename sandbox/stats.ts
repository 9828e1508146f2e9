/**
 * Counters of what the sandbox saw, so tests and benchmarks can assert invariants
 * (no more than rpm per minute, no paid call twice, every request accounted for).
 */

export const FAULT_KINDS = [
	'status500',
	'status503',
	'status529',
	'reset',
	'hang',
	'malformed',
	'truncated',
	'contentPolicy',
	'status429',
	// A structured answer that is valid JSON but breaks the schema (a required property
	// left out); a re-ask turn is answered correctly.
	'schemaViolation',
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];
/** Faults a prompt can force with `[[sandbox:FAULT]]`: the random kinds plus client errors. */
export const FORCED_FAULT_KINDS = [...FAULT_KINDS, 'status400', 'status401'] as const;
export type ForcedFaultKind = (typeof FORCED_FAULT_KINDS)[number];

export interface SandboxStats {
	/** LLM calls received (chat completions + messages), including rejected ones. */
	requests: number;
	/** Wall-clock ms when the first call arrived and the last one was answered (0 = none). */
	firstArrivalAt: number;
	lastAnswerAt: number;
	/** Calls that passed auth, quota and the rate limiter (and so were charged to the buckets). */
	accepted: number;
	/**
	 * Answers by HTTP status; resets and hangs have no status and are only in `faults`;
	 * 499 counts requests whose client went away before the body was read.
	 */
	byStatus: Record<string, number>;
	/** 429s from the rate limiter (not quota, not the `status429` fault). */
	rateLimited: number;
	/** Calls answered 503 by an outage window (see `SandboxOptions.outage`). */
	outageRequests: number;
	faults: Record<ForcedFaultKind, number>;
	inFlight: number;
	maxInFlight: number;
	/** 200 answers that were not faults. */
	paidSuccesses: number;
	/**
	 * Prompt digest -> count of paid successes; a count above 1 is a duplicate paid call.
	 * A plain object (same shape over HTTP), built on first read of this snapshot.
	 */
	successesByPrompt: Record<string, number>;
	/** Paid successes beyond the first of each prompt. */
	duplicateSuccesses: number;
	/** Billed usage of all 200 answers that carry usage (successes, truncated, content policy). */
	inputTokens: number;
	outputTokens: number;
	/**
	 * The billed usage above per model that answered (realtime calls), prompt-cache reads and
	 * writes included: what a provider's invoice lists per model.
	 */
	billedByModel: Record<string, BilledUsage>;
	/** TCP connections opened; low when clients reuse keep-alive sockets. */
	connections: number;
	/** Prompt-cache tokens of the answers: read from the cache, written to it. */
	cacheReadTokens: number;
	cacheWriteTokens: number;
	/** Grouped (multi-record) answers altered by `groupFaults`, by kind. */
	groupFaults: Record<'drop' | 'duplicate' | 'swap', number>;
	/**
	 * Billed usage by the tier that served it (`default`, `flex`, `priority`): flex tokens are
	 * billed at the batch price (half), so a bench prices each tier's tokens at its own rate.
	 */
	byTier: Record<string, TierUsage>;
	/** Flex requests answered 429 `resource_unavailable` (not billed). */
	flexUnavailable: number;
	/** Most accepted requests in any window of `windowMs` (default one minute). */
	maxRequestsPerWindow(windowMs?: number): number;
	/** Most rate-limit tokens charged in any window of `windowMs` (default one minute). */
	maxTokensPerWindow(windowMs?: number): number;
}

/** Billed tokens at one tier. */
export interface TierUsage {
	inputTokens: number;
	outputTokens: number;
	/** Of `inputTokens`: read from the prompt cache. */
	cachedInputTokens: number;
}

/** Billed tokens of one model (realtime calls). */
export interface BilledUsage {
	requests: number;
	inputTokens: number;
	outputTokens: number;
	cacheReadTokens: number;
	cacheWriteTokens: number;
}

/** A growable Float64Array: timestamps of 20k+ requests without 20k boxed numbers. */
class Series {
	data = new Float64Array(1024);
	length = 0;

	push(v: number): void {
		if (this.length === this.data.length) {
			const next = new Float64Array(this.data.length * 2);
			next.set(this.data);
			this.data = next;
		}
		this.data[this.length++] = v;
	}
}

/** Max over windows [t_i, t_i + windowMs) of the summed weights; times are non-decreasing. */
function maxInWindow(
	times: Float64Array,
	weights: Float64Array | undefined,
	n: number,
	windowMs: number,
): number {
	let best = 0;
	let sum = 0;
	let lo = 0;
	// Two pointers: each index enters and leaves once, so this is O(n).
	for (let hi = 0; hi < n; hi++) {
		sum += weights ? weights[hi] : 1;
		while (times[hi] - times[lo] >= windowMs) sum -= weights ? weights[lo++] : (lo++, 1);
		if (sum > best) best = sum;
	}
	return best;
}

export class StatsRecorder {
	requests = 0;
	accepted = 0;
	byStatus: Record<string, number> = {};
	rateLimited = 0;
	outageRequests = 0;
	faults = emptyFaults();
	inFlight = 0;
	maxInFlight = 0;
	paidSuccesses = 0;
	successesByPrompt = new Map<string, number>();
	duplicateSuccesses = 0;
	inputTokens = 0;
	outputTokens = 0;
	connections = 0;
	cacheReadTokens = 0;
	cacheWriteTokens = 0;
	groupFaults = { drop: 0, duplicate: 0, swap: 0 };
	byTier: Record<string, TierUsage> = {};
	flexUnavailable = 0;
	billedByModel: Record<string, BilledUsage> = {};
	private times = new Series();
	private charges = new Series();

	/** Wall-clock ms of the first request's arrival and of the last answer (0 = none yet). */
	firstArrivalAt = 0;
	lastAnswerAt = 0;

	arrive(): void {
		if (this.requests === 0) this.firstArrivalAt = Date.now();
		this.requests++;
		if (++this.inFlight > this.maxInFlight) this.maxInFlight = this.inFlight;
	}

	leave(): void {
		this.lastAnswerAt = Date.now();
		this.inFlight--;
	}

	accept(at: number, tokens: number): void {
		this.accepted++;
		// Arrivals can be handled out of order by a few ms (bodies finish at different times);
		// keep the series sorted so the window scan stays valid.
		const t = this.times.length > 0 ? Math.max(at, this.times.data[this.times.length - 1]) : at;
		this.times.push(t);
		this.charges.push(tokens);
	}

	status(code: number): void {
		const k = String(code);
		this.byStatus[k] = (this.byStatus[k] ?? 0) + 1;
	}

	success(digest: string, usage: { input: number; output: number }): void {
		this.paidSuccesses++;
		const c = (this.successesByPrompt.get(digest) ?? 0) + 1;
		this.successesByPrompt.set(digest, c);
		if (c > 1) this.duplicateSuccesses++;
		this.usage(usage);
	}

	usage(u: { input: number; output: number }): void {
		this.inputTokens += u.input;
		this.outputTokens += u.output;
	}

	billedAt(tier: string, u: { input: number; output: number; cached: number }): void {
		const t = (this.byTier[tier] ??= { inputTokens: 0, outputTokens: 0, cachedInputTokens: 0 });
		t.inputTokens += u.input;
		t.outputTokens += u.output;
		t.cachedInputTokens += u.cached;
	}

	billed(
		model: string,
		u: { input: number; output: number; cacheRead: number; cacheWrite: number },
	): void {
		const b = (this.billedByModel[model] ??= {
			requests: 0,
			inputTokens: 0,
			outputTokens: 0,
			cacheReadTokens: 0,
			cacheWriteTokens: 0,
		});
		b.requests++;
		b.inputTokens += u.input;
		b.outputTokens += u.output;
		b.cacheReadTokens += u.cacheRead;
		b.cacheWriteTokens += u.cacheWrite;
	}

	cache(use: { read: number; write: number }): void {
		this.cacheReadTokens += use.read;
		this.cacheWriteTokens += use.write;
	}

	snapshot(): SandboxStats {
		const times = this.times.data;
		const charges = this.charges.data;
		const n = this.times.length;
		const byPrompt = this.successesByPrompt;
		let copy: Record<string, number> | undefined;
		return {
			requests: this.requests,
			accepted: this.accepted,
			firstArrivalAt: this.firstArrivalAt,
			lastAnswerAt: this.lastAnswerAt,
			byStatus: { ...this.byStatus },
			rateLimited: this.rateLimited,
			outageRequests: this.outageRequests,
			faults: { ...this.faults },
			inFlight: this.inFlight,
			maxInFlight: this.maxInFlight,
			paidSuccesses: this.paidSuccesses,
			// Copied on first read only: stats() stays cheap with 20k prompts when nobody looks.
			get successesByPrompt() {
				copy ??= Object.fromEntries(byPrompt);
				return copy;
			},
			duplicateSuccesses: this.duplicateSuccesses,
			inputTokens: this.inputTokens,
			outputTokens: this.outputTokens,
			billedByModel: Object.fromEntries(
				Object.entries(this.billedByModel).map(([m, b]) => [m, { ...b }]),
			),
			connections: this.connections,
			cacheReadTokens: this.cacheReadTokens,
			cacheWriteTokens: this.cacheWriteTokens,
			groupFaults: { ...this.groupFaults },
			byTier: Object.fromEntries(Object.entries(this.byTier).map(([k, v]) => [k, { ...v }])),
			flexUnavailable: this.flexUnavailable,
			maxRequestsPerWindow: (windowMs = 60_000) => maxInWindow(times, undefined, n, windowMs),
			maxTokensPerWindow: (windowMs = 60_000) => maxInWindow(times, charges, n, windowMs),
		};
	}
}

export function emptyFaults(): Record<ForcedFaultKind, number> {
	return Object.fromEntries(FORCED_FAULT_KINDS.map((k) => [k, 0])) as Record<
		ForcedFaultKind,
		number
	>;
}
