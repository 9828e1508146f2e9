import pLimit from 'p-limit';

import { CircuitBreaker, type BreakerOptions } from './breaker';
import { classifyError, LlmBatchError, stopsTheRun } from './errors';
import type { Checkpoint } from '../ledger/types';
import type { Limiter } from './limit-store';
import type { ChatRequest, ChatResponse, Provider } from './providers/types';
import { resolveRetryPolicy, retryDelay, type RetryPolicy } from './retry';
import type { Clock, ErrorCode, ItemError, LlmResult, Usage } from '../types';
import type { SchemaValidator } from '../schema';
import { interpretAnswer } from './interpret';

export interface RunItem {
	/** Position in the node's input: outcomes carry it back for `pairedItem`. */
	index: number;
	recordId: string;
	request: ChatRequest;
	/** Estimated input tokens (the limiter charges these + max output tokens). */
	inputTokens: number;
	promptHash: string;
	/** Stored with the result (Batch Ledger's Skip Completed compares it). */
	inputHash?: string;
}

export type Outcome =
	| { index: number; ok: true; result: LlmResult }
	| { index: number; ok: false; error: ItemError };

/** The ledger says another execution holds the record: try again once the others are done. */
interface Deferred {
	deferred: true;
}

/** How often a record claimed by another execution is looked at again. */
const CLAIM_POLL_MS = 1000;
/** A claim older than this (a long limiter wait) is renewed before the request is sent. */
const CLAIM_RENEW_AFTER_MS = 60_000;

export interface CircuitOptions extends BreakerOptions {
	/** What an open circuit does. @default 'pause' */
	readonly onOpen?: 'pause' | 'stop';
	/** Pause length before a fresh window is tried. @default 30000 */
	readonly cooldownMs?: number;
	/** Pauses after which the run stops anyway. @default 3 */
	readonly maxPauses?: number;
}

export interface RunnerOptions {
	readonly provider: Provider;
	readonly limiter: Limiter;
	readonly clock: Clock;
	/** Requests in flight at once for this run. */
	readonly concurrency: number;
	readonly retry?: RetryPolicy;
	/** Per request. */
	readonly timeoutMs: number;
	/** The n8n execution's cancel signal. */
	readonly signal?: AbortSignal;
	readonly circuit?: CircuitOptions;
	/** Structured output asked for: the answer must be JSON (and pass `validate` when given). */
	readonly structured?: { validate?: SchemaValidator };
	readonly costOf?: (model: string, usage: Usage) => number | undefined;
	/** Stop spending once this much was spent in the run. */
	readonly maxCostUsd?: number;
	/** Retry a `truncated` answer with twice the max tokens (up to 4x). @default true */
	readonly growMaxTokensOnTruncation?: boolean;
	readonly checkpoint?: Checkpoint;
	readonly onEvent?: (e: RunEvent) => void;
}

export type RunEvent =
	| { type: 'retry'; index: number; code: ErrorCode; delayMs: number; attempt: number }
	| { type: 'rate_limited'; index: number; waitMs?: number }
	| { type: 'circuit'; action: 'pause' | 'stop'; failureShare: number }
	| { type: 'stop'; code: ErrorCode; message: string };

/** Live counters; the progress line and the final hint read them. */
export interface RunStats {
	total: number;
	done: number;
	succeeded: number;
	failed: number;
	cached: number;
	retries: number;
	rateLimited: number;
	inputTokens: number;
	outputTokens: number;
	costUsd: number;
	/** Some result had no known price. */
	costUnknown: boolean;
	startedAt: number;
	failuresByCode: Partial<Record<ErrorCode, number>>;
	stopped?: { code: ErrorCode; message: string };
}

export function emptyStats(total: number, startedAt: number): RunStats {
	return {
		total,
		done: 0,
		succeeded: 0,
		failed: 0,
		cached: 0,
		retries: 0,
		rateLimited: 0,
		inputTokens: 0,
		outputTokens: 0,
		costUsd: 0,
		costUnknown: false,
		startedAt,
		failuresByCode: {},
	};
}

/**
 * Drives items through limiter -> provider -> interpretation, with the one retry layer,
 * the circuit breaker, the run-wide stops (auth, quota, budget) and the checkpoint.
 * Never throws for an item: every item ends as exactly one `Outcome`.
 */
export class BatchRunner {
	readonly stats: RunStats;
	private readonly retry;
	private readonly breaker: CircuitBreaker;
	private readonly stopController = new AbortController();
	private pauses = 0;
	/** Items whose record this run claimed in the ledger at least once. */
	private readonly claimed = new Set<RunItem>();

	constructor(private readonly o: RunnerOptions) {
		if (!Number.isInteger(o.concurrency) || o.concurrency < 1) {
			throw new TypeError(`Expected \`concurrency\` to be an integer >= 1, got ${o.concurrency}`);
		}
		if (!(o.timeoutMs > 0))
			throw new TypeError(`Expected \`timeoutMs\` to be > 0, got ${o.timeoutMs}`);
		this.retry = resolveRetryPolicy(o.retry);
		this.breaker = new CircuitBreaker(o.circuit);
		this.stats = emptyStats(0, o.clock.now());
	}

	async run(items: RunItem[]): Promise<Outcome[]> {
		const cancel = this.o.signal;
		if (cancel) {
			const onCancel = () => this.stopController.abort(cancel.reason);
			if (cancel.aborted) onCancel();
			else cancel.addEventListener('abort', onCancel, { once: true });
		}
		this.stats.total = items.length;
		this.stats.startedAt = this.o.clock.now();
		const outcomes: Outcome[] = new Array(items.length);
		let pending = items;

		if (this.o.checkpoint && items.length > 0) {
			const known = await this.o.checkpoint.lookup(
				items.map((i) => ({ recordId: i.recordId, promptHash: i.promptHash })),
			);
			pending = [];
			items.forEach((item, pos) => {
				const stored = known[pos];
				if (stored) outcomes[pos] = this.fromLedger(item, stored);
				else pending.push(item);
			});
		}

		const position = new Map<RunItem, number>();
		items.forEach((item, pos) => position.set(item, pos));
		const limit = pLimit(this.o.concurrency);
		// Records another execution holds are tried again after this run's own work, until that
		// execution's answer is stored (used as is) or its lease ends (taken over).
		let round = pending;
		for (;;) {
			const deferred: RunItem[] = [];
			await Promise.all(
				round.map((item) =>
					limit(async () => {
						const outcome = await this.process(item);
						if ('deferred' in outcome) deferred.push(item);
						else outcomes[position.get(item)!] = outcome;
					}),
				),
			);
			if (deferred.length === 0) break;
			try {
				await this.o.clock.sleep(CLAIM_POLL_MS, this.stopController.signal);
			} catch {
				// stopped or canceled: the next round fails the deferred items
			}
			round = deferred;
		}
		if (this.o.checkpoint) await this.o.checkpoint.flush();
		return outcomes;
	}

	/** Stop the run: items not yet sent fail with `code`; nothing else is spent. */
	stop(code: ErrorCode, message: string): void {
		if (this.stats.stopped) return;
		this.stats.stopped = { code, message };
		this.o.onEvent?.({ type: 'stop', code, message });
		this.stopController.abort(new LlmBatchError(code, message));
	}

	private fail(item: RunItem, error: ItemError): Outcome {
		this.stats.done++;
		this.stats.failed++;
		this.stats.failuresByCode[error.code] = (this.stats.failuresByCode[error.code] ?? 0) + 1;
		// Only a record this run claimed: another execution may hold the others.
		if (this.claimed.has(item)) this.o.checkpoint?.failed(item.recordId, item.promptHash, error);
		return { index: item.index, ok: false, error };
	}

	/**
	 * Claims the item's record in the ledger (when there is one): undefined when this run may
	 * send it, else the outcome — the stored answer, or deferred while another execution holds it.
	 */
	private async claim(item: RunItem): Promise<Outcome | Deferred | undefined> {
		if (!this.o.checkpoint) return undefined;
		const claim = await this.o.checkpoint.claim(item.recordId, item.promptHash);
		if (claim.status === 'done') return this.fromLedger(item, claim.result);
		if (claim.status === 'busy') return { deferred: true };
		this.claimed.add(item);
		return undefined;
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

	/** Every answered request: its tokens and cost count, and the cap is checked. */
	private countSpend(res: ChatResponse, item: RunItem): void {
		this.stats.inputTokens += res.usage.inputTokens;
		this.stats.outputTokens += res.usage.outputTokens;
		const cost = this.o.costOf?.(res.model || item.request.model, res.usage);
		if (cost === undefined) this.stats.costUnknown = true;
		else this.stats.costUsd += cost;
		this.checkBudget();
	}

	private stoppedError(attempts: number): ItemError {
		const s = this.stats.stopped!;
		return {
			code: s.code,
			message: `Not sent: the run stopped (${s.message})`,
			retryable: s.code === 'circuit_open' || s.code === 'budget_exceeded' || s.code === 'canceled',
			attempts,
		};
	}

	private async process(item: RunItem): Promise<Outcome | Deferred> {
		const { clock, provider, limiter } = this.o;
		let attempts = 0;
		let failures = 0;
		let rateWaits = 0;
		let malformed = 0;
		let maxTokens = item.request.maxTokens;
		// One plain signal for every wait and call: the execution's cancel signal is linked
		// into it once per run (a composite AbortSignal per call costs ~50 µs per item).
		const signal = this.stopController.signal;

		for (;;) {
			if (this.o.signal?.aborted)
				return this.fail(item, {
					code: 'canceled',
					message: 'The execution was stopped',
					retryable: true,
					attempts,
				});
			if (this.stats.stopped) return this.fail(item, this.stoppedError(attempts));
			// Claimed before every attempt (renewing the lease): another execution of the same
			// job never sends this record meanwhile, and a crashed one's claim expires.
			const claimedAt = clock.now();
			const claim = await this.claim(item);
			if (claim) return claim;
			const estimate = item.inputTokens + maxTokens;
			try {
				await limiter.acquire(estimate, signal);
			} catch {
				continue; // aborted while queued: the checks above produce the outcome
			}
			if (this.stats.stopped || this.o.signal?.aborted) continue;
			if (clock.now() - claimedAt > CLAIM_RENEW_AFTER_MS) {
				// A long wait in the limiter: renew the lease right before sending.
				const renewed = await this.claim(item);
				if (renewed) return renewed;
			}

			attempts++;
			const started = clock.now();
			let error: LlmBatchError | undefined;
			let result: LlmResult | undefined;
			try {
				const res = await provider.complete(
					{ ...item.request, maxTokens },
					{ signal, timeoutMs: this.o.timeoutMs, now: () => clock.now() },
				);
				limiter.correct(item.inputTokens, res.usage.inputTokens);
				// Paid the moment it is answered: counted before interpretation may reject it.
				this.countSpend(res, item);
				result = this.interpret(item, res, attempts, clock.now() - started);
			} catch (e) {
				error = classifyError(e, provider.name, clock.now());
			}
			if (result) {
				this.breaker.record('ok');
				this.countSuccess();
				if (this.o.checkpoint) {
					this.o.checkpoint.succeeded(result);
					// Hold this worker's slot until the result is committed (one group commit,
					// shared by all workers), so a crash loses at most the `concurrency` results
					// in flight, never one more sent after an unsaved answer. A failed commit
					// rejects here and fails the run loudly: the answer is paid for.
					await this.o.checkpoint.flush();
				}
				return { index: item.index, ok: true, result };
			}
			if (!error) throw new Error('unreachable: neither result nor error');

			if (error.code === 'canceled') {
				if (this.stats.stopped && !this.o.signal?.aborted)
					return this.fail(item, this.stoppedError(attempts));
				return this.fail(item, error.toItemError(attempts));
			}
			if (this.breaker.record(error.code)) await this.onCircuitOpen();

			if (error.code === 'rate_limited') {
				this.stats.rateLimited++;
				limiter.penalize(error.retryAfterMs);
				this.o.onEvent?.({ type: 'rate_limited', index: item.index, waitMs: error.retryAfterMs });
				rateWaits++;
				// A 429 is waited out in the limiter; only a persistent one starts to cost attempts.
				if (rateWaits <= this.retry.maxRateLimitWaits) {
					attempts--;
					continue;
				}
			}
			if (stopsTheRun(error.code)) {
				this.stop(error.code, error.message);
				return this.fail(item, error.toItemError(attempts));
			}
			if (error.code === 'malformed_output' && ++malformed > 2)
				return this.fail(item, error.toItemError(attempts));
			if (error.code === 'truncated') {
				const grow = this.o.growMaxTokensOnTruncation ?? true;
				if (!grow || maxTokens >= item.request.maxTokens * 4)
					return this.fail(item, error.toItemError(attempts));
				maxTokens *= 2;
			}
			if (!error.retryable || attempts >= this.retry.maxAttempts)
				return this.fail(item, error.toItemError(attempts));

			failures++;
			const delayMs =
				error.code === 'rate_limited' ? 0 : retryDelay(failures, this.retry, clock.random, error);
			this.stats.retries++;
			this.o.onEvent?.({
				type: 'retry',
				index: item.index,
				code: error.code,
				delayMs,
				attempt: attempts,
			});
			try {
				await clock.sleep(delayMs, signal);
			} catch {
				// stopped or canceled during the wait: the loop head decides
			}
		}
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
				provider: this.o.provider.name,
				structured: this.o.structured,
				costOf: this.o.costOf,
				now: () => this.o.clock.now(),
			},
			item,
			res,
			attempts,
			latencyMs,
		);
	}

	private checkBudget(): void {
		const cap = this.o.maxCostUsd;
		if (cap !== undefined && cap > 0 && this.stats.costUsd >= cap) {
			this.stop(
				'budget_exceeded',
				`the cost cap of $${cap} was reached ($${this.stats.costUsd.toFixed(4)} spent)`,
			);
		}
	}

	private async onCircuitOpen(): Promise<void> {
		const c = this.o.circuit ?? {};
		const share = this.breaker.failureShare;
		const maxPauses = c.maxPauses ?? 3;
		if ((c.onOpen ?? 'pause') === 'stop' || this.pauses >= maxPauses) {
			this.o.onEvent?.({ type: 'circuit', action: 'stop', failureShare: share });
			this.stop(
				'circuit_open',
				`${Math.round(share * 100)} % of the recent requests failed (threshold ${Math.round(this.breaker.threshold * 100)} %)`,
			);
			return;
		}
		this.pauses++;
		const cooldown = c.cooldownMs ?? 30_000;
		this.o.onEvent?.({ type: 'circuit', action: 'pause', failureShare: share });
		this.breaker.reset();
		this.o.limiter.pause(cooldown);
	}
}
