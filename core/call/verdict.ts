/**
 * What one attempt's answer decides for its item (./attempt.ts sends it): what the run learns
 * from it (fix chooser, fail-fast proof, concurrency gate, circuit breaker), and after a
 * failure — the item's end, a wait for the provider, a 429 waited out, a re-ask or a fresh
 * call for an invalid answer, a backoff and another attempt, or a second pass for provider
 * noise.
 */
import { CircuitBreaker } from './breaker';
import { LlmBatchError, modelGone, stopsTheRun } from './errors';
import type { ChatResponse } from './providers/types';
import { headersOf, readRateLimit } from './rate-headers';
import { reaskAnswer, reaskMessage } from './reask';
import { capacityDelay, retryDelay } from './retry';
import { untilFlexDeadline } from './service-tier';
import {
	AGAIN,
	failPaid,
	followUpTokens,
	INVALID_ANSWER,
	type Answer,
	type ItemState,
	type Step,
} from './item-state';
import { SECOND_PASS_CODES, waitText, type RunState } from './run-state';
import { addUsage } from './types';
import type { ErrorCode } from '../types';

/** Errors a group is sent again whole for (the provider's trouble, not the answer's). */
const RETRY_GROUP: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
	'rate_limited',
	'server_error',
	'timeout',
	'connection',
	'expired',
]);

/** What the answer teaches the run: the fix chooser, the proof, the gate, the breaker. */
export function judge(
	s: RunState,
	it: ItemState,
	a: Answer,
	probe: boolean,
): { outage: boolean; handOff: boolean } {
	const item = it.item;
	const code: ErrorCode | 'ok' = a.result ? 'ok' : a.error!.code;
	if (a.res && !item.group && (a.result || INVALID_ANSWER.has(code as ErrorCode))) {
		if (it.pendingFix) s.fixes.outcome(it.pendingFix, a.result !== undefined);
		else if (!it.answeredBefore) s.fixes.firstAnswer(a.result !== undefined);
		it.pendingFix = undefined;
		it.answeredBefore = true;
	}
	if (it.proving && it.attempts === 1) s.settleProof(a.error);
	const outage = CircuitBreaker.counts(code) && code !== 'ok';
	if (code === 'ok') s.answeredOk++;
	else if (outage) s.providerFaults++;
	s.gate.observe(a.latencyMs, outage);
	// With a fallback model waiting, an overloaded provider hands the item over at once and
	// is not the breaker's to wait out.
	const status = a.error?.status;
	const handOff = s.options.handOffOverloaded === true && (status === 529 || status === 503);
	// A second pass carries only items the provider failed on repeatedly: they say nothing
	// new about its health (a few always-failing prompts together must not look like an
	// outage), so the breaker judges by the run's first pass.
	const unjudged = handOff || (it.before !== undefined && !probe);
	if (handOff && probe) s.breaker.releaseProbe();
	const openNow = unjudged ? false : s.breaker.record(code, probe, item.index);
	sayCircuit(s, openNow, probe && code === 'ok');
	s.stats.flow = s.options.flow.report();
	s.stats.concurrency = s.gate.report();
	return { outage, handOff };
}

function sayCircuit(s: RunState, openNow: boolean, probeAnswered: boolean): void {
	const openings = s.breaker.openings;
	if (openNow && openings > 0 && s.stats.circuitOpenings !== openings) {
		s.stats.circuitOpenings = openings;
		const stopAtOnce = s.options.circuit?.onOpen === 'stop';
		s.options.onEvent?.({
			type: 'circuit',
			action: stopAtOnce ? 'stop' : 'pause',
			failureShare: s.breaker.openedAtShare,
		});
		if (stopAtOnce)
			s.stop(
				'circuit_open',
				'most recent requests failed with provider errors (5xx, timeouts, connection errors)',
			);
	} else if (!openNow && probeAnswered) {
		s.options.onEvent?.({ type: 'circuit', action: 'resume', failureShare: 0 });
	}
}

/** After a failed attempt (the slot let go): the item's end, or another attempt. */
export async function afterError(
	s: RunState,
	it: ItemState,
	error: LlmBatchError,
	res: ChatResponse | undefined,
	probe: boolean,
	judged: { outage: boolean; handOff: boolean },
): Promise<Step> {
	if (error.code === 'canceled') {
		if (s.stats.stopped && !s.options.signal?.aborted)
			return failPaid(s, it, s.stoppedError(it.attempts));
		return failPaid(s, it, error.toItemError(it.attempts));
	}
	if (s.configError || judged.handOff) return failPaid(s, it, error.toItemError(it.attempts));
	// An outage is the breaker's to wait out: it costs the item no attempt.
	if (judged.outage && (probe || s.breaker.state !== 'closed')) {
		it.attempts--;
		it.priority = true;
		return AGAIN;
	}
	if (error.code === 'resource_unavailable') return capacityWait(s, it, error);
	if (error.code === 'rate_limited') {
		const waited = await rateLimited(s, it, error);
		if (waited !== undefined) return waited;
	}
	if (stopsTheRun(error.code)) {
		// A model gone mid-run: nothing more goes to it; its items fail naming it (a fallback
		// model, when there is one, takes them over: core/call/fallback.ts).
		const said = error.code === 'model_not_found' ? modelGone(error, it.item.request.model) : error;
		s.stop(said.code, said.message);
		return failPaid(s, it, said.toItemError(it.attempts));
	}
	if (res && INVALID_ANSWER.has(error.code) && !it.item.group && s.stats.stopped) {
		// The run stopped while this answer was on its way: no fix call is sent, and the item
		// keeps its paid answer's own failure (with the answer), not the stop's.
		it.spent = addUsage(it.spent, res.usage);
		return failPaid(s, it, { ...error.toItemError(it.attempts), ...rejected(error, res) });
	}
	const maxReasks = s.options.maxReasks ?? 0;
	if (res && INVALID_ANSWER.has(error.code) && !it.item.group && it.reasks < maxReasks) {
		fixInvalid(s, it, error, res);
		return AGAIN;
	}
	return retryOrEnd(s, it, error, res);
}

/**
 * A 429 is waited out by this item alone (the controller slows everyone only for a
 * cluster); only a persistent one starts to cost attempts (undefined: go on as a failure).
 */
async function rateLimited(
	s: RunState,
	it: ItemState,
	error: LlmBatchError,
): Promise<Step | undefined> {
	const { clock, flow } = s.options;
	const item = it.item;
	s.stats.rateLimited++;
	const verdict = flow.observe({
		outcome: 'rate_limited',
		rateLimit: readRateLimit(headersOf(error.cause), clock.now()),
	});
	const asked = error.retryAfterMs;
	const cluster = verdict === 'cluster';
	s.options.onEvent?.({ type: 'rate_limited', index: item.index, waitMs: asked, cluster });
	if (asked !== undefined && asked > s.maxRetryAfterMs) {
		return s.fail(
			item,
			new LlmBatchError(
				'rate_limited',
				`Rate limited (429): the provider asked to wait ${waitText(asked)} (Retry-After), longer than Max Retry-After (${waitText(s.maxRetryAfterMs)}); rerun this item later`,
				{ status: error.status, provider: error.provider, requestId: error.requestId },
			).toItemError(it.attempts),
		);
	}
	it.rateWaits++;
	if (it.rateWaits > s.retry.maxRateLimitWaits) return undefined;
	it.attempts--;
	it.priority = true;
	const delayMs = asked ?? (cluster ? 0 : retryDelay(it.rateWaits, s.retry, clock.random));
	await backOff(s, it, error.code, delayMs);
	return AGAIN;
}

/**
 * Flex had no capacity for the request (429 `resource_unavailable`, not billed). It says
 * nothing about the account's rate (the flow controller is not told: no cut), nor about an
 * outage (the breaker does not count it: `CircuitBreaker.counts`), nor about the item (no
 * attempt is used, no retry counted). The item waits with the usual backoff — until the Flex
 * Deadline at most, after which it goes out at the standard tier (./service-tier.ts) — and only
 * without a deadline, after `maxCapacityWaits` waits, ends `resource_unavailable` (retryable).
 */
async function capacityWait(s: RunState, it: ItemState, error: LlmBatchError): Promise<Step> {
	const { clock } = s.options;
	const untilDeadlineMs = untilFlexDeadline(s.options, clock.now());
	it.attempts--;
	it.capacityWaits++;
	if (untilDeadlineMs === undefined && it.capacityWaits > s.retry.maxCapacityWaits) {
		const message = `${error.message}. Flex had no capacity for ${it.capacityWaits} tries (none billed): set a Flex Deadline to finish on the standard tier, or rerun this item later`;
		return failPaid(s, it, { ...error.toItemError(it.attempts), message });
	}
	s.stats.capacityWaits = (s.stats.capacityWaits ?? 0) + 1;
	it.priority = true;
	const delayMs = capacityDelay(it.capacityWaits, s.retry, clock.random, {
		retryAfterMs: error.retryAfterMs,
		maxRetryAfterMs: s.maxRetryAfterMs,
		untilDeadlineMs,
	});
	sayRetry(s, it, error.code, delayMs);
	await s.sleep(delayMs, s.stopController.signal);
	return AGAIN;
}

/**
 * Re-ask (the same conversation plus the answer and what is wrong with it) or a fresh call,
 * whichever Fix Invalid Answers By picks.
 */
function fixInvalid(s: RunState, it: ItemState, error: LlmBatchError, res: ChatResponse): void {
	const item = it.item;
	const reask = { answer: reaskAnswer(res.text, res.data), errors: reaskMessage(error) };
	const meter = s.meter;
	const model = item.request.model;
	it.pendingFix = s.fixes.choose({
		promptTokens: item.inputTokens,
		reaskExtraTokens: followUpTokens(reask),
		outputTokens: res.usage.outputTokens,
		temperature: item.request.temperature,
		price: (inputTokens, outputTokens) => meter.costOf(model, { inputTokens, outputTokens }),
	});
	it.spent = addUsage(it.spent, res.usage);
	it.reasks++;
	s.stats.retries++;
	if (it.pendingFix === 'reask') {
		s.stats.reasks++;
		it.followUp = reask;
	} else {
		it.freshFixes++;
		s.stats.freshFixes++;
		it.followUp = undefined;
	}
	sayRetry(s, it, error.code, 0);
}

/** Another attempt after a backoff, or the item's end (a second pass for provider noise). */
async function retryOrEnd(
	s: RunState,
	it: ItemState,
	error: LlmBatchError,
	res: ChatResponse | undefined,
): Promise<Step> {
	const item = it.item;
	if (res) it.spent = addUsage(it.spent, res.usage);
	// A group's unusable answer is split by the caller, not sent again whole.
	// (A body cut in transit is not the answer's fault: retried like a reset.)
	const cutInTransit = error.code === 'malformed_output' && res === undefined;
	if (item.group && error.code !== 'truncated' && !RETRY_GROUP.has(error.code) && !cutInTransit)
		return failPaid(s, it, error.toItemError(it.attempts));
	const ended = { ...error.toItemError(it.attempts), ...rejected(error, res) };
	// The model's text not being the JSON asked for gets three tries; a body cut in transit
	// (no answer at all: the SDK's JSON parse failed) is a transient fault like a reset and
	// gets the item's attempts.
	if (error.code === 'malformed_output' && res !== undefined && ++it.malformed > 2)
		return failPaid(s, it, ended);
	if (error.code === 'truncated') {
		const grow = s.options.growMaxTokensOnTruncation ?? true;
		if (!grow || it.maxTokens >= item.request.maxTokens * 4)
			return failPaid(s, it, error.toItemError(it.attempts));
		it.maxTokens *= 2;
	}
	if (!error.retryable || it.attempts - (it.before?.attempts ?? 0) >= s.retry.maxAttempts) {
		// Attempts used up on provider noise (5xx, timeouts, resets, cut bodies): one more
		// pass after the rest of the run, when the provider proved healthy.
		if (error.retryable && SECOND_PASS_CODES.has(error.code) && !it.before && !item.group) {
			const { attempts, spent, reasks, freshFixes, tickets } = it;
			s.firstPass.set(item, { attempts, spent, reasks, freshFixes, tickets });
			return { secondPass: ended };
		}
		return failPaid(s, it, ended);
	}
	it.failures++;
	const floor =
		error.retryAfterMs === undefined
			? undefined
			: { retryAfterMs: Math.min(error.retryAfterMs, s.maxRetryAfterMs) };
	const delayMs =
		error.code === 'rate_limited'
			? 0
			: retryDelay(it.failures, s.retry, s.options.clock.random, floor);
	await backOff(s, it, error.code, delayMs);
	return AGAIN;
}

/**
 * A paid answer that failed validation stays on the error, so a workflow loop can re-ask with
 * it (core/call/input.ts `reaskFromItem`).
 */
function rejected(error: LlmBatchError, res: ChatResponse | undefined): { answer?: string } {
	if (!res || !INVALID_ANSWER.has(error.code)) return {};
	return { answer: res.data !== undefined ? JSON.stringify(res.data) : res.text };
}

/** A retry, said and waited for without a slot; a stop or cancel ends the wait early. */
export async function backOff(
	s: RunState,
	it: ItemState,
	code: ErrorCode,
	delayMs: number,
): Promise<void> {
	s.stats.retries++;
	it.priority = true;
	sayRetry(s, it, code, delayMs);
	await s.sleep(delayMs, s.stopController.signal);
}

function sayRetry(s: RunState, it: ItemState, code: ErrorCode, delayMs: number): void {
	const attempt = it.attempts;
	s.options.onEvent?.({ type: 'retry', index: it.item.index, code, delayMs, attempt });
}
