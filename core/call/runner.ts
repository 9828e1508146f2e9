import { setMaxListeners } from 'node:events';

import pLimit from 'p-limit';

import { CircuitBreaker, type BreakerOptions } from './breaker';
import { CostMeter, functionPricing, type Ticket } from './budget';
import { ConcurrencyGate } from './concurrency';
import type { FlowLease } from './controller';
import { classifyError, LlmBatchError, modelGone, stopsTheRun } from './errors';
import { configurationProblem, ConfigurationError } from './preflight';
import type { Checkpoint } from '../ledger/types';
import type { ChatRequest, ChatResponse, Provider } from './providers/types';
import { headersOf, readRateLimit } from './rate-headers';
import { resolveRetryPolicy, retryDelay, type RetryPolicy } from './retry';
import type { Clock, ErrorCode, ItemError, LlmResult, Usage } from '../types';
import type { SchemaValidator } from '../schema';
import { estimateTokens } from '../tokens';
import { interpretAnswer } from './interpret';
import { FixChooser, reaskAnswer, reaskMessage } from './reask';
import type { FixInvalidBy, FixKind } from './reask';

export { ConfigurationError } from './preflight';
import {
	addUsage,
	emptyStats,
	type Outcome,
	type RunEvent,
	type RunItem,
	type RunStats,
} from './types';
// The run's vocabulary lives in ./types; re-exported where callers have always found it.
export {
	addUsage,
	emptyStats,
	type Outcome,
	type RunEvent,
	type RunItem,
	type RunStats,
} from './types';

/** The ledger says another execution holds the record: try again once the others are done. */
interface Deferred {
	deferred: true;
}

/**
 * The item used up its attempts on transient provider faults (5xx, timeouts, connection
 * errors, a body cut in transit): provider noise, not the item's failure. It gets one more
 * pass with fresh attempts once the rest of the run is done, if the provider answered most
 * of the run's requests (see `BatchRunner.healthy`); else it fails with `error`.
 */
interface SecondPass {
	secondPass: ItemError;
}

/** What an item carries into its second pass: the attempts and usage of the first. */
interface FirstPass {
	attempts: number;
	spent: Usage | undefined;
	reasks: number;
	freshFixes: number;
	/** Paid tickets of the first pass: recorded with the item's final write. */
	tickets: Ticket[];
}

/** An answer that came back but is not the JSON asked for: what a re-ask or a fresh call fixes. */
const INVALID_ANSWER: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
	'malformed_output',
	'schema_violation',
]);

/** Transient provider faults: the breaker's outage codes. */
const SECOND_PASS_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
	'server_error',
	'timeout',
	'connection',
]);

/** How often a record claimed by another execution is looked at again. */
const CLAIM_POLL_MS = 1000;
/** A claim older than this (a long limiter wait) is renewed before the request is sent. */
const CLAIM_RENEW_AFTER_MS = 60_000;

export interface CircuitOptions extends BreakerOptions {
	/**
	 * What an open circuit does: wait for the provider (half-open probes) until `outageMs`,
	 * or stop the run at once. @default 'pause'
	 */
	readonly onOpen?: 'pause' | 'stop';
}

export interface RunnerOptions {
	readonly provider: Provider;
	/**
	 * This run's lease on the (shared) flow controller: rate limits, AIMD, learned limits. In
	 * this process (`sharedFlow`) or through a store shared by several processes (`StoreLimiter`).
	 */
	readonly flow: Pick<
		FlowLease,
		'limits' | 'acquire' | 'correct' | 'observe' | 'report' | 'release'
	>;
	readonly clock: Clock;
	/** Most requests in flight at once for this run (the adaptive limit stays under it). */
	readonly concurrency: number;
	readonly retry?: RetryPolicy;
	/** Per request. */
	readonly timeoutMs: number;
	/** The n8n execution's cancel signal: the only thing that aborts requests in flight. */
	readonly signal?: AbortSignal;
	readonly circuit?: CircuitOptions;
	/**
	 * Longest Retry-After honoured; a 429 asking for more ends that item `rate_limited` with
	 * the wait in its message (a 5xx's longer Retry-After is cut to this). @default 60000
	 */
	readonly maxRetryAfterMs?: number;
	/**
	 * The first item goes alone: a 404 endpoint, an unknown model or a refused connection ends
	 * the run with a `ConfigurationError` before anything else is sent. @default true
	 */
	readonly failFast?: boolean;
	/** What the configuration error names (model ID, base URL without the key). */
	readonly setting?: { model: string; baseUrl?: string };
	/** Structured output asked for: the answer must be JSON (and pass `validate` when given). */
	readonly structured?: { validate?: SchemaValidator };
	/**
	 * Prices every request and keeps the cost cap (core/call/budget.ts); the runners of one run
	 * (primary, fallbacks, grouped requests) share one. Without it: `costOf` and `maxCostUsd`.
	 */
	readonly meter?: CostMeter;
	/** Without a `meter`: the price of an answer. */
	readonly costOf?: (model: string, usage: Usage) => number | undefined;
	/** Without a `meter`: the run's cost cap, kept by reserving each request's most before it is sent. */
	readonly maxCostUsd?: number;
	/** Retry a `truncated` answer with twice the max tokens (up to 4x). @default true */
	readonly growMaxTokensOnTruncation?: boolean;
	readonly checkpoint?: Checkpoint;
	readonly onEvent?: (e: RunEvent) => void;
	/**
	 * Send the first item alone before the fan-out, so its answer creates the prompt-cache
	 * entry every other request then reads (a cache entry is usable only once the first
	 * response has begun). With `failFast` (the default) the first item goes alone anyway.
	 * @default false
	 */
	readonly warmUp?: boolean;
	/**
	 * Answers that are malformed or fail the schema get up to this many fix calls, each a
	 * follow-up turn with the errors ("return only the corrected JSON") or a fresh call, as
	 * `fixInvalidBy` says. @default 0
	 */
	readonly maxReasks?: number;
	/**
	 * How an invalid answer is fixed: re-ask with the errors, a fresh call, or whichever the run
	 * measures cheaper per answer made valid (core/call/reask.ts `FixChooser`). @default 'reask'
	 */
	readonly fixInvalidBy?: FixInvalidBy;
	/**
	 * A fallback model waits (core/call/fallback.ts): an overloaded provider (529, or 503)
	 * ends the item at once so the fallback answers it. @default false
	 */
	readonly handOffOverloaded?: boolean;
}

function waitText(ms: number): string {
	const s = Math.round(ms / 1000);
	if (s < 120) return `${s} s`;
	const m = Math.round(s / 60);
	return m < 120 ? `${m} min` : `${Math.round(m / 60)} h`;
}

/**
 * Drives items through breaker -> concurrency gate -> flow controller -> provider ->
 * interpretation, with the one retry layer, the run-wide stops (auth, quota, budget, outage)
 * and the checkpoint. Never throws for an item: every item ends as exactly one `Outcome`.
 * A stop stops sending; requests already out finish and their answers are kept. Only the
 * execution's cancel signal aborts requests in flight.
 */
export class BatchRunner {
	readonly stats: RunStats;
	private readonly retry;
	private readonly breaker: CircuitBreaker;
	private readonly gate: ConcurrencyGate;
	/** Aborted by a stop or a cancel: nothing new is sent, waits end. */
	private readonly stopController = new AbortController();
	/** Aborted by the user's cancel only: requests in flight. */
	private readonly cancelController = new AbortController();
	private readonly maxRetryAfterMs: number;
	private proof: Promise<void> | undefined;
	private proven: (() => void) | undefined;
	private configError: ConfigurationError | undefined;
	/** Items whose record this run claimed in the ledger at least once. */
	private readonly claimed = new Set<RunItem>();
	/** Grouped requests that lost a record's claim (see `lostClaim`). */
	private readonly lostClaims = new Set<RunItem>();
	/** A first answer came back: the prompt cache is warm (Anthropic charges then exclude it). */
	private warm = false;
	/** Grouped requests' paid tickets: core/call/group.ts says how much of them is stored. */
	private readonly groupTickets = new Map<RunItem, Ticket[]>();
	/** Items on their second pass, with what their first pass spent. */
	private readonly firstPass = new Map<RunItem, FirstPass>();
	/** Answers of this run the breaker counts: right ones and provider-side failures. */
	private answeredOk = 0;
	private providerFaults = 0;
	/** Re-ask or fresh call for an invalid answer, by what the run has measured. */
	private readonly fixes: FixChooser;
	/** Prices requests and keeps the cap: shared by every runner of the run. */
	readonly meter: CostMeter;

	constructor(private readonly options: RunnerOptions) {
		if (!Number.isInteger(options.concurrency) || options.concurrency < 1) {
			throw new TypeError(
				`Expected \`concurrency\` to be an integer >= 1, got ${options.concurrency}`,
			);
		}
		if (!(options.timeoutMs > 0))
			throw new TypeError(`Expected \`timeoutMs\` to be > 0, got ${options.timeoutMs}`);
		this.maxRetryAfterMs = options.maxRetryAfterMs ?? 60_000;
		if (!(this.maxRetryAfterMs >= 0))
			throw new TypeError(`Expected \`maxRetryAfterMs\` to be >= 0, got ${this.maxRetryAfterMs}`);
		this.retry = resolveRetryPolicy(options.retry);
		this.breaker = new CircuitBreaker(options.circuit, options.clock);
		this.gate = new ConcurrencyGate(options.concurrency, () => options.clock.now());
		this.stats = emptyStats(0, options.clock.now());
		this.fixes = new FixChooser(options.fixInvalidBy ?? 'reask');
		this.meter =
			options.meter ??
			new CostMeter({
				pricing: functionPricing(options.costOf ?? (() => undefined)),
				capUsd: options.maxCostUsd,
			});
		// Every waiting item listens on these (and removes its listener once served).
		setMaxListeners(0, this.stopController.signal, this.cancelController.signal);
	}

	/**
	 * Runs every item to one outcome. Rejects only with a `ConfigurationError` (the first
	 * answer proved the configuration cannot work; nothing else was sent) or a ledger failure.
	 */
	async run(items: RunItem[], opts: { keepFlow?: boolean } = {}): Promise<Outcome[]> {
		try {
			return await this.runAll(items);
		} finally {
			// Several calls (multi-item waves) keep the lease until `releaseFlow`.
			if (!opts.keepFlow) this.options.flow.release();
			this.refreshReports();
		}
	}

	/** Ends the flow lease after runs made with `keepFlow`. */
	releaseFlow(): void {
		this.options.flow.release();
	}

	private async runAll(items: RunItem[]): Promise<Outcome[]> {
		const cancel = this.options.signal;
		if (cancel) {
			const onCancel = () => {
				this.cancelController.abort(cancel.reason);
				this.stopController.abort(cancel.reason);
			};
			if (cancel.aborted) onCancel();
			else cancel.addEventListener('abort', onCancel, { once: true });
		}
		const tpm = this.options.flow.limits.tpm;
		for (const item of items) {
			const estimate = item.inputTokens + item.request.maxTokens;
			if (estimate > tpm) {
				throw new ConfigurationError(
					`Tokens per Minute (${tpm}) is smaller than one request: item ${item.index} needs about ${estimate} tokens (prompt estimate + Max Tokens)`,
					'Tokens per Minute',
					'Raise Tokens per Minute to your real limit, or lower Max Tokens; nothing was sent.',
				);
			}
		}
		this.stats.total = items.length;
		this.stats.startedAt = this.options.clock.now();
		const outcomes: Outcome[] = new Array(items.length);
		let pending = items;

		const real = items.filter((i) => !i.group);
		if (this.options.checkpoint && real.length > 0) {
			const known = await this.options.checkpoint.lookup(
				real.map((i) => ({ recordId: i.recordId, promptHash: i.promptHash })),
			);
			pending = [];
			let k = 0;
			items.forEach((item, pos) => {
				// Positions in `known` are those of the non-group items.
				const stored = item.group ? undefined : known[k++];
				if (stored) outcomes[pos] = this.fromLedger(item, stored);
				else pending.push(item);
			});
		}

		if ((this.options.failFast ?? true) && pending.length > 1) {
			this.proof = new Promise<void>((resolve) => (this.proven = resolve));
		}
		const position = new Map<RunItem, number>();
		items.forEach((item, pos) => position.set(item, pos));
		// Items that ran out of attempts on provider noise: a second pass after the others.
		const again: Array<{ item: RunItem; error: ItemError }> = [];
		if (this.options.warmUp && !this.proof && !this.warm && pending.length > 1) {
			// Without the fail-fast proof, the cache warm-up sends the first item alone.
			const first = pending[0];
			const warmed = await this.process(first, false);
			pending = pending.slice(1);
			// Another execution holds it: it waits with the deferred items.
			if ('deferred' in warmed) pending.push(first);
			else if ('secondPass' in warmed) again.push({ item: first, error: warmed.secondPass });
			else outcomes[position.get(first)!] = warmed;
		}
		// Items under way: more than the slots, so one waiting out a backoff (without a slot)
		// leaves its slot to another item; bounded, so 100k items are not 100k open frames.
		const underWay = pLimit(Math.max(this.options.concurrency * 4, 16));
		// Records another execution holds are tried again after this run's own work, until that
		// execution's answer is stored (used as is) or its lease ends (taken over).
		let round = pending;
		let first = true;
		for (;;) {
			const deferred: RunItem[] = [];
			await Promise.all(
				round.map((item, n) =>
					underWay(async () => {
						const proving = first && n === 0;
						try {
							const outcome = await this.process(item, proving);
							if ('deferred' in outcome) deferred.push(item);
							else if ('secondPass' in outcome) again.push({ item, error: outcome.secondPass });
							else outcomes[position.get(item)!] = outcome;
						} finally {
							// However the first item ends, the others must not wait on it forever.
							if (proving) this.settleProof(undefined);
						}
					}),
				),
			);
			first = false;
			if (deferred.length === 0) {
				if (again.length === 0) break;
				const second = again.splice(0);
				if (!this.healthy()) {
					for (const a of second) outcomes[position.get(a.item)!] = this.fail(a.item, a.error);
					break;
				}
				round = second.map((a) => a.item);
				continue;
			}
			try {
				await this.options.clock.sleep(CLAIM_POLL_MS, this.stopController.signal);
			} catch {
				// stopped or canceled: the next round fails the deferred items
			}
			round = deferred;
		}
		if (this.options.checkpoint) await this.options.checkpoint.flush();
		if (this.configError) throw this.configError;
		return outcomes;
	}

	/**
	 * Whether the provider was healthy for this run, so an item that ran out of attempts on
	 * transient faults met noise (another pass will most likely succeed) rather than a
	 * provider that fails everything: no stop, no cancel, the circuit closed, and the
	 * provider-side failures below the breaker's threshold of the answers it counts.
	 */
	private healthy(): boolean {
		if (this.stats.stopped || this.options.signal?.aborted || this.configError) return false;
		if (this.breaker.state !== 'closed') return false;
		const counted = this.answeredOk + this.providerFaults;
		return this.answeredOk > 0 && this.providerFaults < this.breaker.threshold * counted;
	}

	/** Stop the run: nothing new is sent, items not yet sent fail with `code`; answers in flight are kept. */
	stop(code: ErrorCode, message: string): void {
		if (this.stats.stopped) return;
		this.stats.stopped = { code, message };
		this.options.onEvent?.({ type: 'stop', code, message });
		this.stopController.abort(new LlmBatchError(code, message));
	}

	private refreshReports(): void {
		this.stats.flow = this.options.flow.report();
		this.stats.concurrency = this.gate.report();
		this.stats.circuitOpenings = this.breaker.openings;
	}

	private fail(item: RunItem, error: ItemError): Outcome {
		this.stats.done++;
		this.stats.failed++;
		this.stats.failuresByCode[error.code] = (this.stats.failuresByCode[error.code] ?? 0) + 1;
		// Only a record this run claimed: another execution may hold the others.
		if (this.claimed.has(item))
			this.options.checkpoint?.failed(item.recordId, item.promptHash, error);
		return { index: item.index, ok: false, error };
	}

	/**
	 * Claims the item's record in the ledger (when there is one): undefined when this run may
	 * send it, else the outcome — the stored answer, or deferred while another execution holds it.
	 */
	private async claim(item: RunItem): Promise<Outcome | Deferred | undefined> {
		if (!this.options.checkpoint) return undefined;
		// A grouped request is no record: its records' claims are renewed together; one lost to
		// another execution (its lease ran out) ends the group unsent, for core/call/group.ts to
		// send its records alone.
		if (item.group) return item.members ? this.claimGroup(item, item.members) : undefined;
		// A re-ask from the workflow adds what the record paid before to its result: the ledger
		// must not keep that failure's cost apart as well.
		const claim = await this.options.checkpoint.claim(
			item.recordId,
			item.promptHash,
			item.priorUsage !== undefined,
		);
		if (claim.status === 'done') return this.fromLedger(item, claim.result);
		if (claim.status === 'busy') return { deferred: true };
		this.claimed.add(item);
		return undefined;
	}

	private async claimGroup(
		item: RunItem,
		members: NonNullable<RunItem['members']>,
	): Promise<Outcome | undefined> {
		const cp = this.options.checkpoint!;
		const states = await Promise.all(members.map((m) => cp.claim(m.recordId, m.promptHash)));
		if (states.every((c) => c.status === 'claimed')) return undefined;
		this.lostClaims.add(item);
		return this.fail(item, {
			code: 'canceled',
			message: 'Another execution of the job took over a record of this group; not sent',
			retryable: true,
			attempts: 0,
		});
	}

	/** Whether a grouped request ended unsent because another execution took over one of its records. */
	lostClaim(item: RunItem): boolean {
		return this.lostClaims.has(item);
	}

	/** An answer the ledger already holds (stored, cached, or another execution's). */
	private fromLedger(item: RunItem, stored: LlmResult): Outcome {
		this.stats.cached++;
		this.countSuccess();
		return { index: item.index, ok: true, result: { ...stored, recordId: item.recordId } };
	}

	private countSuccess(): void {
		this.stats.done++;
		this.stats.succeeded++;
	}

	/** Every answered request: its tokens and cost (settled on the meter) count. */
	private countSpend(res: ChatResponse, cost: number | undefined): void {
		this.stats.inputTokens += res.usage.inputTokens;
		this.stats.outputTokens += res.usage.outputTokens;
		this.stats.cachedInputTokens += res.usage.cachedInputTokens ?? 0;
		this.stats.cacheWriteTokens += res.usage.cacheWriteTokens ?? 0;
		if (cost === undefined) this.stats.costUnknown = true;
		else this.stats.costUsd += cost;
	}

	/**
	 * What these tickets paid is in the ledger once the item's write is committed: the job
	 * budget then counts it from the stored result instead.
	 */
	private recordWhenCommitted(tickets: readonly Ticket[]): void {
		const cp = this.options.checkpoint;
		if (!cp || tickets.length === 0) return;
		const done = cp.committed ? cp.committed() : cp.flush();
		done.then(
			() => this.meter.recorded(tickets),
			() => undefined, // not stored: the tickets keep counting
		);
	}

	/** A grouped request's paid tickets; `share` of them is stored in its records' results. */
	recordGroup(item: RunItem, share: number): Promise<void> {
		const tickets = this.groupTickets.get(item) ?? [];
		this.groupTickets.delete(item);
		return this.meter.recorded(tickets, share);
	}

	private stoppedError(attempts: number): ItemError {
		const s = this.stats.stopped!;
		return {
			code: s.code,
			message: `${attempts === 0 ? 'Not sent' : `Not retried after ${attempts} attempt${attempts === 1 ? '' : 's'}`}: the run stopped (${s.message})`,
			retryable: s.code === 'circuit_open' || s.code === 'budget_exceeded' || s.code === 'canceled',
			attempts,
		};
	}

	private async process(item: RunItem, first: boolean): Promise<Outcome | Deferred | SecondPass> {
		const { clock, provider, flow } = this.options;
		// On a second pass: attempts go on counting (the item reports them all), Max Attempts
		// applies to this pass's, the backoff starts over.
		const before = this.firstPass.get(item);
		let attempts = before?.attempts ?? 0;
		let failures = 0;
		let rateWaits = 0;
		let malformed = 0;
		let maxTokens = item.request.maxTokens;
		let priority = false;
		// A re-ask fed from the workflow (Validate Output's Invalid output looped back) starts
		// with the follow-up turn.
		let followUp: ChatRequest['followUp'] = item.request.followUp;
		let reasks = before?.reasks ?? (followUp ? 1 : 0);
		// Of the fix calls counted in `reasks`: fresh calls (no follow-up turn).
		let freshFixes = before?.freshFixes ?? 0;
		// The fix whose answer is awaited (its outcome teaches the chooser), and whether this
		// item's first answer was seen (first answers tell how often a fresh draw is valid).
		let pendingFix: FixKind | undefined;
		let answeredBefore = before !== undefined || followUp !== undefined;
		// Usage of answers that came back but could not be used (re-asked): paid, so added to
		// the result that finally comes.
		let spent: Usage | undefined = before ? before.spent : item.priorUsage;
		// This run's paid requests for the item (the meter's tickets).
		const tickets: Ticket[] = before ? before.tickets : [];
		// A failure keeps what its unusable answers cost (a job budget counts it from the
		// ledger). A group's answers are shared out by core/call/group.ts instead.
		const failPaid = (error: ItemError): Outcome => {
			if (item.group) this.groupTickets.set(item, tickets);
			if (!spent || item.group) return this.fail(item, error);
			const costUsd = this.meter.costOf(item.request.model, spent);
			const out = this.fail(item, {
				...error,
				usage: spent,
				...(costUsd === undefined ? {} : { costUsd }),
			});
			if (this.claimed.has(item)) this.recordWhenCommitted(tickets);
			return out;
		};
		const anthropic = provider.name === 'anthropic';
		let groupJustClaimed = item.group === true && item.members !== undefined;
		// One plain signal per kind for every wait and call: the execution's cancel signal is
		// linked in once per run (a composite AbortSignal per call costs ~50 µs per item).
		const stopSignal = this.stopController.signal;
		const cancelSignal = this.cancelController.signal;
		const proving = first && this.proof !== undefined;
		if (!proving && this.proof) await this.proof;

		for (;;) {
			if (this.options.signal?.aborted)
				return failPaid({
					code: 'canceled',
					message: 'The execution was stopped',
					retryable: true,
					attempts,
				});
			if (this.stats.stopped) return failPaid(this.stoppedError(attempts));
			let admit: 'go' | 'probe' | 'expired';
			try {
				admit = await this.breaker.admit(stopSignal);
			} catch {
				continue; // stopped while the circuit was open: the checks above decide
			}
			if (admit === 'expired') {
				this.options.onEvent?.({
					type: 'circuit',
					action: 'stop',
					failureShare: this.breaker.failureShare,
				});
				this.stop(
					'circuit_open',
					`the provider failed every probe for ${waitText(this.breaker.outageLastedMs)} (outage time ${waitText(this.breaker.outageMs)})`,
				);
				continue;
			}
			const probe = admit === 'probe';
			try {
				await this.gate.acquire(stopSignal, priority);
			} catch {
				if (probe) this.breaker.releaseProbe();
				continue;
			}
			let slotHeld = true;
			const releaseSlot = () => {
				if (slotHeld) {
					slotHeld = false;
					this.gate.release();
				}
			};
			try {
				// Claimed before every attempt (renewing the lease), once this item holds a slot so
				// no more records are "processing" than requests can be in flight: another
				// execution of the same job never sends this record meanwhile, and a crashed
				// one's claim expires.
				const claimedAt = clock.now();
				// (core/call/group.ts has just claimed a group's records for its first attempt.)
				const claim = groupJustClaimed ? undefined : await this.claim(item);
				groupJustClaimed = false;
				if (claim) {
					if (probe) this.breaker.releaseProbe();
					return claim;
				}
				// Anthropic's input-token limit does not count cache reads: once the cache is
				// warm, the cached prefix is not charged.
				const uncounted = anthropic && this.warm ? (item.cachePrefixTokens ?? 0) : 0;
				const estimate =
					item.inputTokens - uncounted + maxTokens + (followUp ? followUpTokens(followUp) : 0);
				try {
					await flow.acquire(estimate, stopSignal);
				} catch {
					if (probe) this.breaker.releaseProbe();
					continue; // stopped while queued: the checks above produce the outcome
				}
				if (this.stats.stopped || this.options.signal?.aborted) {
					if (probe) this.breaker.releaseProbe();
					continue;
				}
				// The circuit opened while this item waited for a slot or the rate: back to the
				// breaker's gate, or an outage gets every item already queued sent into it.
				if (!probe && this.breaker.isOpen) continue;
				// Its most is reserved before it is sent, so no cap is passed by requests in flight.
				const reservation = await this.meter.reserve(
					item.request.model,
					{
						inputTokens: item.inputTokens + (followUp ? followUpTokens(followUp) : 0),
						outputTokens: maxTokens,
						cacheWrite: item.request.cache?.ttl,
					},
					stopSignal,
				);
				if (!reservation || 'refused' in reservation) {
					if (reservation) this.stop('budget_exceeded', reservation.refused);
					if (probe) this.breaker.releaseProbe();
					continue; // the loop head produces the outcome
				}
				const ticket = reservation.ticket;
				if (clock.now() - claimedAt > CLAIM_RENEW_AFTER_MS) {
					// A long wait (breaker, slot, rate): renew the lease right before sending.
					const renewed = await this.claim(item);
					if (renewed) {
						await this.meter.release(ticket);
						if (probe) this.breaker.releaseProbe();
						return renewed;
					}
				}

				attempts++;
				const started = clock.now();
				let error: LlmBatchError | undefined;
				let result: LlmResult | undefined;
				let res: ChatResponse | undefined;
				try {
					res = await provider.complete(
						{ ...item.request, maxTokens, ...(followUp ? { followUp } : {}) },
						{ signal: cancelSignal, timeoutMs: this.options.timeoutMs, now: () => clock.now() },
					);
					this.warm = true;
					// What the provider counts against its limit (Anthropic: without cache reads).
					const counted =
						res.usage.inputTokens - (anthropic ? (res.usage.cachedInputTokens ?? 0) : 0);
					flow.correct(estimate - maxTokens, counted);
				} catch (e) {
					error = classifyError(e, provider.name, clock.now());
				}
				const latencyMs = clock.now() - started;
				if (res) {
					// Paid the moment it is answered: counted before interpretation may reject it.
					this.countSpend(res, await this.meter.settle(ticket, res.usage));
					if (ticket.paidUsd > 0) tickets.push(ticket);
				} else await this.meter.release(ticket);
				const stoppedBefore = this.stats.stopped !== undefined;
				if (res) {
					flow.observe({ outcome: 'ok', rateLimit: res.rateLimit });
					try {
						result = this.interpret(item, res, attempts, latencyMs);
						if (spent) result = this.withSpent(result, item, spent);
						if (reasks - freshFixes > 0) result.reasks = reasks - freshFixes;
						if (item.priorAttempts) result.attempts += item.priorAttempts;
					} catch (e) {
						error = classifyError(e, provider.name, clock.now());
					}
				}
				const code: ErrorCode | 'ok' = result ? 'ok' : error!.code;
				if (res && !item.group && (result || INVALID_ANSWER.has(code as ErrorCode))) {
					if (pendingFix) this.fixes.outcome(pendingFix, result !== undefined);
					else if (!answeredBefore) this.fixes.firstAnswer(result !== undefined);
					pendingFix = undefined;
					answeredBefore = true;
				}
				if (proving && attempts === 1) this.settleProof(error);
				const outageCode = CircuitBreaker.counts(code) && code !== 'ok';
				if (code === 'ok') this.answeredOk++;
				else if (outageCode) this.providerFaults++;
				this.gate.observe(latencyMs, outageCode);
				// With a fallback model waiting, an overloaded provider hands the item over at once
				// and is not the breaker's to wait out.
				const handOff =
					this.options.handOffOverloaded === true &&
					error !== undefined &&
					(error.status === 529 || error.status === 503);
				// A second pass carries only items the provider failed on repeatedly: they say
				// nothing new about its health (a few always-failing prompts together must not
				// look like an outage), so the breaker judges by the run's first pass.
				const unjudged = handOff || (before !== undefined && !probe);
				if (handOff && probe) this.breaker.releaseProbe();
				const openNow = unjudged ? false : this.breaker.record(code, probe, item.index);
				if (
					openNow &&
					this.breaker.openings > 0 &&
					this.stats.circuitOpenings !== this.breaker.openings
				) {
					this.stats.circuitOpenings = this.breaker.openings;
					const stopAtOnce = this.options.circuit?.onOpen === 'stop';
					this.options.onEvent?.({
						type: 'circuit',
						action: stopAtOnce ? 'stop' : 'pause',
						failureShare: this.breaker.openedAtShare,
					});
					if (stopAtOnce)
						this.stop(
							'circuit_open',
							'most recent requests failed with provider errors (5xx, timeouts, connection errors)',
						);
				} else if (!openNow && probe && code === 'ok') {
					this.options.onEvent?.({ type: 'circuit', action: 'resume', failureShare: 0 });
				}
				this.stats.flow = flow.report();
				this.stats.concurrency = this.gate.report();

				if (result) {
					if (stoppedBefore) this.stats.keptAfterStop = (this.stats.keptAfterStop ?? 0) + 1;
					this.countSuccess();
					if (this.options.checkpoint && !item.group) {
						this.options.checkpoint.succeeded(result);
						// Hold this slot until the result is committed (its own group commit), so a
						// crash loses at most the `concurrency` results in flight, never one more sent
						// after an unsaved answer. A failed commit rejects here and fails the run
						// loudly: the answer is paid for.
						const cp = this.options.checkpoint;
						await (cp.committed ? cp.committed() : cp.flush());
						await this.meter.recorded(tickets);
					}
					if (item.group) this.groupTickets.set(item, tickets);
					return { index: item.index, ok: true, result };
				}
				if (!error) throw new Error('unreachable: neither result nor error');
				releaseSlot();

				if (error.code === 'canceled') {
					if (this.stats.stopped && !this.options.signal?.aborted)
						return failPaid(this.stoppedError(attempts));
					return failPaid(error.toItemError(attempts));
				}
				if (this.configError) return failPaid(error.toItemError(attempts));
				if (handOff) return failPaid(error.toItemError(attempts));
				// An outage is the breaker's to wait out: it costs the item no attempt.
				if (outageCode && (probe || this.breaker.state !== 'closed')) {
					attempts--;
					priority = true;
					continue;
				}

				if (error.code === 'rate_limited') {
					this.stats.rateLimited++;
					const verdict = flow.observe({
						outcome: 'rate_limited',
						rateLimit: readRateLimit(headersOf(error.cause), clock.now()),
					});
					const asked = error.retryAfterMs;
					this.options.onEvent?.({
						type: 'rate_limited',
						index: item.index,
						waitMs: asked,
						cluster: verdict === 'cluster',
					});
					if (asked !== undefined && asked > this.maxRetryAfterMs) {
						return this.fail(
							item,
							new LlmBatchError(
								'rate_limited',
								`Rate limited (429): the provider asked to wait ${waitText(asked)} (Retry-After), longer than Max Retry-After (${waitText(this.maxRetryAfterMs)}); rerun this item later`,
								{ status: error.status, provider: error.provider, requestId: error.requestId },
							).toItemError(attempts),
						);
					}
					rateWaits++;
					// A 429 is waited out by this item alone (the controller slows everyone only for
					// a cluster); only a persistent one starts to cost attempts.
					if (rateWaits <= this.retry.maxRateLimitWaits) {
						attempts--;
						priority = true;
						const delayMs =
							asked ??
							(verdict === 'cluster' ? 0 : retryDelay(rateWaits, this.retry, clock.random));
						this.stats.retries++;
						this.options.onEvent?.({
							type: 'retry',
							index: item.index,
							code: error.code,
							delayMs,
							attempt: attempts,
						});
						await this.sleep(delayMs, stopSignal);
						continue;
					}
				}
				if (stopsTheRun(error.code)) {
					// A model gone mid-run: nothing more goes to it; its items fail naming it (a
					// fallback model, when there is one, takes them over: core/call/fallback.ts).
					if (error.code === 'model_not_found') error = modelGone(error, item.request.model);
					this.stop(error.code, error.message);
					return failPaid(error.toItemError(attempts));
				}
				if (
					res &&
					(error.code === 'malformed_output' || error.code === 'schema_violation') &&
					!item.group &&
					reasks < (this.options.maxReasks ?? 0)
				) {
					// Re-ask (the same conversation plus the answer and what is wrong with it) or a
					// fresh call, whichever Fix Invalid Answers By picks.
					const reask = {
						answer: reaskAnswer(res.text, res.data),
						errors: reaskMessage(error),
					};
					const meter = this.meter;
					const model = item.request.model;
					pendingFix = this.fixes.choose({
						promptTokens: item.inputTokens,
						reaskExtraTokens: followUpTokens(reask),
						outputTokens: res.usage.outputTokens,
						temperature: item.request.temperature,
						price: (inputTokens, outputTokens) =>
							meter.costOf(model, { inputTokens, outputTokens }),
					});
					spent = addUsage(spent, res.usage);
					reasks++;
					this.stats.retries++;
					if (pendingFix === 'reask') {
						this.stats.reasks++;
						followUp = reask;
					} else {
						freshFixes++;
						this.stats.freshFixes++;
						followUp = undefined;
					}
					this.options.onEvent?.({
						type: 'retry',
						index: item.index,
						code: error.code,
						delayMs: 0,
						attempt: attempts,
					});
					continue;
				}
				if (res) spent = addUsage(spent, res.usage);
				// A group's unusable answer is split by the caller, not sent again whole.
				// (A body cut in transit is not the answer's fault: retried like a reset.)
				if (
					item.group &&
					error.code !== 'truncated' &&
					!RETRY_GROUP.has(error.code) &&
					!(error.code === 'malformed_output' && res === undefined)
				)
					return failPaid(error.toItemError(attempts));
				// A paid answer that failed validation stays on the error, so a workflow loop can
				// re-ask with it (core/call/input.ts `reaskFromItem`).
				const rejectedAnswer =
					res && (error.code === 'malformed_output' || error.code === 'schema_violation')
						? { answer: res.data !== undefined ? JSON.stringify(res.data) : res.text }
						: {};
				// The model's text not being the JSON asked for gets three tries; a body cut in
				// transit (no answer at all: the SDK's JSON parse failed) is a transient fault like
				// a reset and gets the item's attempts.
				if (error.code === 'malformed_output' && res !== undefined && ++malformed > 2)
					return failPaid({ ...error.toItemError(attempts), ...rejectedAnswer });
				if (error.code === 'truncated') {
					const grow = this.options.growMaxTokensOnTruncation ?? true;
					if (!grow || maxTokens >= item.request.maxTokens * 4)
						return failPaid(error.toItemError(attempts));
					maxTokens *= 2;
				}
				if (!error.retryable || attempts - (before?.attempts ?? 0) >= this.retry.maxAttempts) {
					// Attempts used up on provider noise (5xx, timeouts, resets, cut bodies): one
					// more pass after the rest of the run, when the provider proved healthy.
					if (error.retryable && SECOND_PASS_CODES.has(error.code) && !before && !item.group) {
						this.firstPass.set(item, { attempts, spent, reasks, freshFixes, tickets });
						return { secondPass: { ...error.toItemError(attempts), ...rejectedAnswer } };
					}
					return failPaid({ ...error.toItemError(attempts), ...rejectedAnswer });
				}

				failures++;
				const floor =
					error.retryAfterMs === undefined
						? undefined
						: { retryAfterMs: Math.min(error.retryAfterMs, this.maxRetryAfterMs) };
				const delayMs =
					error.code === 'rate_limited' ? 0 : retryDelay(failures, this.retry, clock.random, floor);
				this.stats.retries++;
				priority = true;
				this.options.onEvent?.({
					type: 'retry',
					index: item.index,
					code: error.code,
					delayMs,
					attempt: attempts,
				});
				await this.sleep(delayMs, stopSignal);
			} finally {
				releaseSlot();
			}
		}
	}

	/** Backoff without a slot; a stop or cancel ends it early (the loop head decides). */
	private async sleep(ms: number, signal: AbortSignal): Promise<void> {
		if (ms <= 0) return;
		try {
			await this.options.clock.sleep(ms, signal);
		} catch {
			// stopped or canceled during the wait
		}
	}

	/** The first item's first answer: either the configuration works, or the run ends now. */
	private settleProof(error: LlmBatchError | undefined): void {
		if (!this.proven) return;
		// A model the provider does not serve, with a fallback model waiting: not the end of the
		// run but of this model's part in it — the stop hands every item on (core/call/fallback.ts).
		const handedOn = error?.code === 'model_not_found' && this.options.handOffOverloaded === true;
		if (error && !handedOn) {
			const problem = configurationProblem(error, this.options.setting ?? { model: '' });
			if (problem) {
				this.configError = problem;
				this.stop('invalid_request', `configuration error: ${problem.message}`);
			}
		}
		this.proven?.();
		this.proven = undefined;
	}

	/** Turns a provider answer into a result, or the taxonomy's error for it. */
	private interpret(
		item: RunItem,
		res: ChatResponse,
		attempts: number,
		latencyMs: number,
	): LlmResult {
		return interpretAnswer(
			{
				provider: this.options.provider.name,
				structured: this.options.structured,
				costOf: this.meter.costOf,
				now: () => this.options.clock.now(),
			},
			item,
			res,
			attempts,
			latencyMs,
		);
	}

	/** `result` with the usage (and cost) of earlier unusable answers added. */
	private withSpent(result: LlmResult, item: RunItem, spent: Usage): LlmResult {
		const usage = addUsage(spent, result.usage);
		return { ...result, usage, costUsd: this.meter.costOf(item.request.model, usage) };
	}
}

/** Errors a group is sent again whole for (the provider's trouble, not the answer's). */
const RETRY_GROUP: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
	'rate_limited',
	'server_error',
	'timeout',
	'connection',
	'expired',
]);

/** The re-ask turn's tokens, estimated as prompts are (the limiter's charge, the meter's reservation). */
function followUpTokens(f: NonNullable<ChatRequest['followUp']>): number {
	return estimateTokens(`${f.answer}\n${f.errors}`) + 8;
}
