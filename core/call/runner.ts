import pLimit from 'p-limit';

import { CircuitBreaker, type BreakerOptions } from './breaker';
import { classifyError, LlmBatchError, stopsTheRun } from './errors';
import type { Checkpoint } from '../ledger/types';
import type { RateLimiter } from './limiter';
import type { ChatRequest, ChatResponse, Provider } from './providers/types';
import { resolveRetryPolicy, retryDelay, type RetryPolicy } from './retry';
import type { Clock, ErrorCode, Issue, ItemError, LlmResult, Usage } from '../types';
import { extractJson, type SchemaValidator } from '../schema';

export interface RunItem {
	/** Position in the node's input: outcomes carry it back for `pairedItem`. */
	index: number;
	recordId: string;
	request: ChatRequest;
	/** Estimated input tokens (the limiter charges these + max output tokens). */
	inputTokens: number;
	promptHash: string;
	/**
	 * Tokens of the cacheable prefix (schema + system prompt) when prompt caching is on:
	 * Anthropic's input-token limit does not count cache reads, so after the warm-up the
	 * limiter is charged without them.
	 */
	cachePrefixTokens?: number;
	/**
	 * A request that carries several records (core/call/group.ts): the answer only has to
	 * be a JSON object (the group splits and checks it), it is not stored in the ledger as
	 * a record, and an answer that cannot be used ends it at once (the group is split)
	 * instead of being retried whole.
	 */
	group?: boolean;
	/** Usage already paid for this record (a group share, a re-ask from the workflow): added to its result. */
	priorUsage?: Usage;
	priorAttempts?: number;
}

export type Outcome =
	| { index: number; ok: true; result: LlmResult }
	| { index: number; ok: false; error: ItemError };

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
	readonly limiter: RateLimiter;
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
	/**
	 * Send the first item alone before the fan-out, so its answer creates the prompt-cache
	 * entry every other request then reads (a cache entry is usable only once the first
	 * response has begun). @default false
	 */
	readonly warmUp?: boolean;
	/**
	 * Answers that are malformed or fail the schema get up to this many follow-up turns with
	 * the errors ("return only the corrected JSON") instead of a fresh call. @default 0
	 */
	readonly maxReasks?: number;
	/**
	 * A fallback model waits (core/call/fallback.ts): an overloaded provider (529, or 503)
	 * ends the item at once so the fallback answers it, and does not count towards the
	 * circuit breaker. @default false
	 */
	readonly handOffOverloaded?: boolean;
	/**
	 * Spent before this run and counted against `maxCostUsd` (the ledger job's earlier
	 * executions when the cap applies to the job). @default 0
	 */
	readonly spentBeforeUsd?: number;
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
	/** Input tokens served from the prompt cache, and written to it. */
	cachedInputTokens: number;
	cacheWriteTokens: number;
	/** Follow-up turns sent with validation errors. */
	reasks: number;
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
		cachedInputTokens: 0,
		cacheWriteTokens: 0,
		reasks: 0,
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
	/** The warm-up request was sent (or none was asked for): cache reads can be expected. */
	private warm = false;

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
		// A job already at its cap sends nothing.
		if (this.o.spentBeforeUsd) this.checkBudget();
		const outcomes: Outcome[] = new Array(items.length);
		let pending = items;

		const real = items.filter((i) => !i.group);
		if (this.o.checkpoint && real.length > 0) {
			const known = await this.o.checkpoint.lookup(
				real.map((i) => ({ recordId: i.recordId, promptHash: i.promptHash })),
			);
			pending = [];
			items.forEach((item, pos) => {
				const stored = item.group ? undefined : known.get(item.recordId);
				if (stored) {
					outcomes[pos] = { index: item.index, ok: true, result: stored };
					this.stats.cached++;
					this.countSuccess(stored, false);
				} else pending.push(item);
			});
		}

		const position = new Map<RunItem, number>();
		items.forEach((item, pos) => position.set(item, pos));
		if (this.o.warmUp && pending.length > 1 && !this.warm) {
			const first = pending[0];
			outcomes[position.get(first)!] = await this.process(first);
			pending = pending.slice(1);
		}
		this.warm = true;
		const limit = pLimit(this.o.concurrency);
		await Promise.all(
			pending.map((item) =>
				limit(async () => {
					const outcome = await this.process(item);
					outcomes[position.get(item)!] = outcome;
				}),
			),
		);
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
		if (!item.group) this.o.checkpoint?.failed(item.recordId, item.promptHash, error);
		return { index: item.index, ok: false, error };
	}

	/** `counted`: usage already in the stats (a group's share carried into this result). */
	private countSuccess(result: LlmResult, fresh: boolean, counted?: Usage): void {
		this.stats.done++;
		this.stats.succeeded++;
		if (!fresh) return;
		const u = result.usage;
		this.stats.inputTokens += u.inputTokens - (counted?.inputTokens ?? 0);
		this.stats.outputTokens += u.outputTokens - (counted?.outputTokens ?? 0);
		this.stats.cachedInputTokens += (u.cachedInputTokens ?? 0) - (counted?.cachedInputTokens ?? 0);
		this.stats.cacheWriteTokens += (u.cacheWriteTokens ?? 0) - (counted?.cacheWriteTokens ?? 0);
		if (result.costUsd === undefined) this.stats.costUnknown = true;
		else
			this.stats.costUsd +=
				result.costUsd - (counted ? (this.o.costOf?.(result.model, counted) ?? 0) : 0);
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

	private async process(item: RunItem): Promise<Outcome> {
		const { clock, provider, limiter } = this.o;
		let attempts = 0;
		let failures = 0;
		let rateWaits = 0;
		let malformed = 0;
		let maxTokens = item.request.maxTokens;
		// A re-ask fed from the workflow (Validate Output's Invalid output looped back) starts
		// with the follow-up turn.
		let followUp: ChatRequest['followUp'] = item.request.followUp;
		let reasks = followUp ? 1 : 0;
		// Usage of answers that came back but could not be used (re-asked): paid, so added to
		// the result that finally comes.
		let spent: Usage | undefined = item.priorUsage;
		const anthropic = provider.name === 'anthropic';
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
			// Anthropic's input-token limit does not count cache reads: once the cache is warm,
			// the cached prefix is not charged.
			const uncounted = anthropic && this.warm ? (item.cachePrefixTokens ?? 0) : 0;
			const estimate =
				item.inputTokens - uncounted + maxTokens + (followUp ? followUpTokens(followUp) : 0);
			try {
				await limiter.acquire(estimate, signal);
			} catch {
				continue; // aborted while queued: the checks above produce the outcome
			}
			if (this.stats.stopped || this.o.signal?.aborted) continue;

			attempts++;
			if (!item.group) this.o.checkpoint?.started(item.recordId, item.promptHash);
			const started = clock.now();
			let error: LlmBatchError | undefined;
			let result: LlmResult | undefined;
			let answered: ChatResponse | undefined;
			try {
				const res = await provider.complete(
					{ ...item.request, maxTokens, ...(followUp ? { followUp } : {}) },
					{ signal, timeoutMs: this.o.timeoutMs },
				);
				answered = res;
				const counted =
					res.usage.inputTokens - (anthropic ? (res.usage.cachedInputTokens ?? 0) : 0);
				limiter.correct(estimate - maxTokens, counted);
				result = this.interpret(item, res, attempts, clock.now() - started);
				if (spent) result = this.withSpent(result, spent);
				if (reasks > 0 || item.priorAttempts) {
					result.reasks = reasks > 0 ? reasks : result.reasks;
					result.attempts += item.priorAttempts ?? 0;
				}
			} catch (e) {
				error = classifyError(e, provider.name, clock.now());
			}
			if (result) {
				this.breaker.record('ok');
				this.countSuccess(result, true, item.priorUsage);
				this.checkBudget();
				if (this.o.checkpoint && !item.group) {
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
			if (this.o.handOffOverloaded && (error.status === 529 || error.status === 503))
				return this.fail(item, error.toItemError(attempts));
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
			if (
				answered &&
				(error.code === 'malformed_output' || error.code === 'schema_violation') &&
				!item.group &&
				reasks < (this.o.maxReasks ?? 0)
			) {
				// Re-ask: the same conversation plus the answer and what is wrong with it.
				spent = addUsage(spent, answered.usage);
				reasks++;
				this.stats.reasks++;
				this.stats.retries++;
				followUp = {
					answer: answered.data !== undefined ? JSON.stringify(answered.data) : answered.text,
					errors: reaskMessage(error),
				};
				this.o.onEvent?.({
					type: 'retry',
					index: item.index,
					code: error.code,
					delayMs: 0,
					attempt: attempts,
				});
				continue;
			}
			if (answered) spent = addUsage(spent, answered.usage);
			// A group's unusable answer is split by the caller, not sent again whole.
			if (item.group && error.code !== 'truncated' && !RETRY_GROUP.has(error.code))
				return this.fail(item, error.toItemError(attempts));
			// A paid answer that failed validation stays on the error, so a workflow loop can
			// re-ask with it (core/call/input.ts `reaskFromItem`).
			const rejectedAnswer =
				answered && (error.code === 'malformed_output' || error.code === 'schema_violation')
					? {
							answer: answered.data !== undefined ? JSON.stringify(answered.data) : answered.text,
						}
					: {};
			if (error.code === 'malformed_output' && ++malformed > 2)
				return this.fail(item, { ...error.toItemError(attempts), ...rejectedAnswer });
			if (error.code === 'truncated') {
				const grow = this.o.growMaxTokensOnTruncation ?? true;
				if (!grow || maxTokens >= item.request.maxTokens * 4)
					return this.fail(item, error.toItemError(attempts));
				maxTokens *= 2;
			}
			if (!error.retryable || attempts >= this.retry.maxAttempts)
				return this.fail(item, { ...error.toItemError(attempts), ...rejectedAnswer });

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
		const provider = this.o.provider.name;
		const base = { provider, requestId: res.requestId };
		if (res.finishReason === 'content_filter') {
			throw new LlmBatchError(
				'content_filter',
				`The model refused this item (content policy)${res.refusal ? `: ${res.refusal}` : ''}`,
				base,
			);
		}
		if (res.finishReason === 'length') {
			throw new LlmBatchError(
				'truncated',
				`The answer was cut off at max tokens (${item.request.maxTokens}); raise Max Tokens`,
				base,
			);
		}
		let output: unknown = res.text;
		if (item.group) {
			const parsed =
				res.data !== undefined ? { ok: true as const, value: res.data } : extractJson(res.text);
			if (
				!parsed.ok ||
				!parsed.value ||
				typeof parsed.value !== 'object' ||
				Array.isArray(parsed.value)
			)
				throw new LlmBatchError(
					'malformed_output',
					`The grouped answer is not a JSON object keyed by record ID${parsed.ok ? '' : `: ${parsed.message}`}`,
					base,
				);
			output = parsed.value;
		} else if (this.o.structured) {
			if (res.data !== undefined) output = res.data;
			else {
				const parsed = extractJson(res.text);
				if (!parsed.ok)
					throw new LlmBatchError(
						'malformed_output',
						`The answer is not the JSON that was asked for: ${parsed.message}`,
						base,
					);
				output = parsed.value;
			}
			const issues = this.o.structured.validate?.(output);
			if (issues && issues.length > 0) {
				throw new LlmBatchError(
					'schema_violation',
					`The answer does not match the JSON Schema: ${issues.map((i) => `${i.path || '/'} ${i.message}`).join('; ')}`,
					{ ...base, issues },
				);
			}
		}
		const usage = res.usage;
		return {
			recordId: item.recordId,
			output,
			text: res.text,
			model: res.model,
			provider,
			finishReason: res.finishReason,
			usage,
			costUsd: this.o.costOf?.(res.model || item.request.model, usage),
			attempts,
			latencyMs,
			cached: false,
			promptHash: item.promptHash,
			completedAt: new Date(this.o.clock.now()).toISOString(),
		};
	}

	/** `result` with the usage (and cost) of earlier unusable answers added. */
	private withSpent(result: LlmResult, spent: Usage): LlmResult {
		const usage = addUsage(spent, result.usage);
		return {
			...result,
			usage,
			costUsd: this.o.costOf?.(result.model, usage),
		};
	}

	private checkBudget(): void {
		const cap = this.o.maxCostUsd;
		const before = this.o.spentBeforeUsd ?? 0;
		const spent = this.stats.costUsd + before;
		if (cap !== undefined && cap > 0 && spent >= cap) {
			this.stop(
				'budget_exceeded',
				before > 0
					? `the job's cost cap of $${cap} was reached ($${spent.toFixed(4)} spent by the job, $${this.stats.costUsd.toFixed(4)} in this run)`
					: `the cost cap of $${cap} was reached ($${spent.toFixed(4)} spent)`,
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

/** Errors a group is sent again whole for (the provider's trouble, not the answer's). */
const RETRY_GROUP: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
	'rate_limited',
	'server_error',
	'timeout',
	'connection',
	'expired',
]);

export function addUsage(a: Usage | undefined, b: Usage): Usage {
	if (!a) return b;
	const out: Usage = {
		inputTokens: a.inputTokens + b.inputTokens,
		outputTokens: a.outputTokens + b.outputTokens,
	};
	for (const k of ['cachedInputTokens', 'cacheWriteTokens', 'cacheWrite1hTokens'] as const) {
		const v = (a[k] ?? 0) + (b[k] ?? 0);
		if (v > 0) out[k] = v;
	}
	return out;
}

function followUpTokens(f: NonNullable<ChatRequest['followUp']>): number {
	return Math.ceil((f.answer.length + f.errors.length) / 4) + 8;
}

/** The follow-up turn of a re-ask: the validation errors and what to return. */
export function reaskMessage(error: {
	code: ErrorCode;
	message: string;
	issues?: Issue[];
}): string {
	const problems =
		error.issues && error.issues.length > 0
			? error.issues
					.slice(0, 20)
					.map((i) => `- ${i.path || '/'} ${i.message}`)
					.join('\n')
			: `- ${error.message}`;
	return `Your answer failed validation:\n${problems}\nReturn only the corrected JSON, with nothing before or after it.`;
}
