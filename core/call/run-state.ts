/**
 * What one run of the runner shares across its items: the breaker, the concurrency gate, the
 * stop and cancel signals, the meter, the claims, the counters — and the bookkeeping every
 * item's end goes through (`fail`, `fromLedger`, `stop`). The attempt loop (./attempt.ts)
 * works on it; the runner (./runner.ts) owns it.
 */
import { setMaxListeners } from 'node:events';

import { CircuitBreaker } from './breaker';
import { CostMeter, type Ticket } from './budget';
import { functionPricing } from './pricing';
import { RunClaims } from './claims';
import { ConcurrencyGate } from './concurrency';
import { LlmBatchError } from './errors';
import type { Answered } from './failure-rate';
import { interpretAnswer } from './interpret';
import { configurationProblem, type ConfigurationError } from './preflight';
import type { ChatResponse } from './providers/types';
import { FixChooser } from './reask';
import { resolveRetryPolicy } from './retry';
import type { RunnerOptions } from './runner-options';
import { addUsage, emptyStats, type Outcome, type RunItem, type RunStats } from './types';
import type { ErrorCode, ItemError, LlmResult, Usage } from '../types';

/**
 * The item used up its attempts on transient provider faults (5xx, timeouts, connection
 * errors, a body cut in transit): provider noise, not the item's failure. It gets one more
 * pass with fresh attempts once the rest of the run is done, if the provider answered most
 * of the run's requests (see `BatchRunner.healthy`); else it fails with `error`.
 */
export interface SecondPass {
	secondPass: ItemError;
}

/** What an item carries into its second pass: the attempts and usage of the first. */
export interface FirstPass {
	attempts: number;
	spent: Usage | undefined;
	reasks: number;
	freshFixes: number;
	/** Paid tickets of the first pass: recorded with the item's final write. */
	tickets: Ticket[];
}

/** Transient provider faults: the breaker's outage codes. */
export const SECOND_PASS_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
	'server_error',
	'timeout',
	'connection',
]);

/**
 * The run's own stops (cost cap, outage, cancel, ledger, shared limit store, failure rate):
 * the items they leave unsent or unretried may be sent again once the cause is gone.
 */
const RETRYABLE_STOPS: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
	'circuit_open',
	'budget_exceeded',
	'canceled',
	'ledger_unavailable',
	'limit_store_unavailable',
	'stopped_failure_rate',
]);

export function waitText(ms: number): string {
	const s = Math.round(ms / 1000);
	if (s < 120) return `${s} s`;
	const m = Math.round(s / 60);
	return m < 120 ? `${m} min` : `${Math.round(m / 60)} h`;
}

export class RunState {
	readonly stats: RunStats;
	readonly retry;
	readonly breaker: CircuitBreaker;
	readonly gate: ConcurrencyGate;
	/** Aborted by a stop or a cancel: nothing new is sent, waits end. */
	readonly stopController = new AbortController();
	/** Aborted by the user's cancel only: requests in flight. */
	readonly cancelController = new AbortController();
	readonly maxRetryAfterMs: number;
	/** Settled once the first item's first answer proved the configuration (fail fast). */
	proof: Promise<void> | undefined;
	private proven: (() => void) | undefined;
	configError: ConfigurationError | undefined;
	/** A first answer came back: the prompt cache is warm (Anthropic charges then exclude it). */
	warm = false;
	/** Items on their second pass, with what their first pass spent. */
	readonly firstPass = new Map<RunItem, FirstPass>();
	/** Answers of this run the breaker counts: right ones and provider-side failures. */
	answeredOk = 0;
	providerFaults = 0;
	/** Re-ask or fresh call for an invalid answer, by what the run has measured. */
	readonly fixes: FixChooser;
	/** Prices requests and keeps the cap: shared by every runner of the run. */
	readonly meter: CostMeter;
	readonly claims: RunClaims;

	constructor(readonly options: RunnerOptions) {
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
		this.claims = new RunClaims(options.checkpoint, this.meter, {
			fail: (item, error) => this.fail(item, error),
			fromLedger: (item, stored) => this.fromLedger(item, stored),
		});
		// Every waiting item listens on these (and removes its listener once served).
		setMaxListeners(0, this.stopController.signal, this.cancelController.signal);
		options.failureRate?.onTrip((trip) => this.stop('stopped_failure_rate', trip.message));
	}

	/** The first item goes alone: the others wait on `proof` until its first answer. */
	startProof(): void {
		this.proof = new Promise<void>((resolve) => (this.proven = resolve));
	}

	/**
	 * Whether the provider was healthy for this run, so an item that ran out of attempts on
	 * transient faults met noise (another pass will most likely succeed) rather than a
	 * provider that fails everything: no stop, no cancel, the circuit closed, and the
	 * provider-side failures below the breaker's threshold of the answers it counts.
	 */
	healthy(): boolean {
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

	refreshReports(): void {
		this.stats.flow = this.options.flow.report();
		this.stats.concurrency = this.gate.report();
		this.stats.circuitOpenings = this.breaker.openings;
	}

	fail(item: RunItem, error: ItemError): Outcome {
		this.stats.done++;
		this.stats.failed++;
		this.stats.failuresByCode[error.code] = (this.stats.failuresByCode[error.code] ?? 0) + 1;
		// Only a record this run claimed: another execution may hold the others.
		this.claims.failed(item, error);
		// An item sent and failed for its own reason, not ended by a stop of the run.
		if (
			error.attempts > 0 &&
			!RETRYABLE_STOPS.has(error.code) &&
			error.code !== this.stats.stopped?.code
		)
			this.answered(error);
		return { index: item.index, ok: false, error };
	}

	/** An answer the ledger already holds (stored, cached, or another execution's). */
	fromLedger(item: RunItem, stored: LlmResult): Outcome {
		this.stats.cached++;
		this.countSuccess();
		return { index: item.index, ok: true, result: { ...stored, recordId: item.recordId } };
	}

	countSuccess(tier?: string): void {
		this.stats.done++;
		this.stats.succeeded++;
		if (tier === undefined) return;
		const by = (this.stats.answeredByTier ??= {});
		by[tier] = (by[tier] ?? 0) + 1;
	}

	/** A result this run's request brought (not one the ledger held). */
	countAnswered(tier?: string): void {
		this.countSuccess(tier);
		this.answered('ok');
	}

	/** Every item ended after an answer goes past Stop When Failures Exceed. */
	private answered(end: Answered): void {
		this.options.failureRate?.record(end);
	}

	/** Every answered request: its tokens and cost (settled on the meter) count. */
	countSpend(res: ChatResponse, cost: number | undefined): void {
		this.stats.inputTokens += res.usage.inputTokens;
		this.stats.outputTokens += res.usage.outputTokens;
		this.stats.cachedInputTokens += res.usage.cachedInputTokens ?? 0;
		this.stats.cacheWriteTokens += res.usage.cacheWriteTokens ?? 0;
		if (cost === undefined) this.stats.costUnknown = true;
		else this.stats.costUsd += cost;
	}

	stoppedError(attempts: number): ItemError {
		const s = this.stats.stopped!;
		return {
			code: s.code,
			message: `${attempts === 0 ? 'Not sent' : `Not retried after ${attempts} attempt${attempts === 1 ? '' : 's'}`}: the run stopped (${s.message})`,
			retryable: RETRYABLE_STOPS.has(s.code),
			attempts,
		};
	}

	/** Backoff without a slot; a stop or cancel ends it early (the loop head decides). */
	async sleep(ms: number, signal: AbortSignal): Promise<void> {
		if (ms <= 0) return;
		try {
			await this.options.clock.sleep(ms, signal);
		} catch {
			// stopped or canceled during the wait
		}
	}

	/** The first item's first answer: either the configuration works, or the run ends now. */
	settleProof(error: LlmBatchError | undefined): void {
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
	interpret(item: RunItem, res: ChatResponse, attempts: number, latencyMs: number): LlmResult {
		return interpretAnswer(
			{
				provider: this.options.provider.name,
				structured: this.options.structured,
				costOf: this.meter.costOf,
				now: () => this.options.clock.now(),
				serviceTier: this.options.serviceTier,
			},
			item,
			res,
			attempts,
			latencyMs,
		);
	}

	/** `result` with the usage (and cost) of earlier unusable answers added. */
	withSpent(result: LlmResult, item: RunItem, spent: Usage): LlmResult {
		const usage = addUsage(spent, result.usage);
		return { ...result, usage, costUsd: this.meter.costOf(item.request.model, usage) };
	}
}
