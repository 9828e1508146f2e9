/**
 * One item's way through a run: the attempt loop. Each attempt passes the circuit breaker,
 * takes a slot of the concurrency gate, claims the record, waits for the rate, reserves its
 * most on the meter, is sent and read; what comes back decides (./verdict.ts) — a result, a
 * backoff and another attempt, a re-ask, a wait for the provider, a second pass, or the end.
 */
import type { Ticket } from './budget';
import { classifyError } from './classify';
import type { LlmBatchError } from './errors';
import type { ChatResponse } from './providers/types';
import { waitText, type RunState } from './run-state';
import type { Outcome, RunItem } from './types';
import {
	AGAIN,
	failPaid,
	followUpTokens,
	itemState,
	type Answer,
	type ItemEnd,
	type ItemState,
	type Step,
} from './item-state';
import { afterError, judge } from './verdict';
import { tierAt, timeoutAt } from './service-tier';
import type { LlmResult, ServiceTier } from '../types';

export type { ItemEnd } from './item-state';

/** Cleared to send: the meter's reservation, the limiter's estimate, the tier it goes at. */
interface Cleared {
	ticket: Ticket;
	estimate: number;
	tier: ServiceTier | undefined;
}

/** A claim older than this (a long limiter wait) is renewed before the request is sent. */
const CLAIM_RENEW_AFTER_MS = 60_000;

/** Runs one item to its end; `first`: the run's first item, which proves the configuration. */
export function runItem(state: RunState, item: RunItem, first: boolean): Promise<ItemEnd> {
	return new ItemRun(state, item, first).run();
}

class ItemRun {
	private readonly it: ItemState;
	/** core/call/group.ts has just claimed a group's records for its first attempt. */
	private groupJustClaimed: boolean;
	private slotHeld = false;

	constructor(
		private readonly s: RunState,
		item: RunItem,
		first: boolean,
	) {
		this.it = itemState(s, item, first);
		this.groupJustClaimed = item.group === true && item.members !== undefined;
	}

	async run(): Promise<ItemEnd> {
		if (!this.it.proving && this.s.proof) await this.s.proof;
		for (;;) {
			const step = await this.step();
			if (step !== AGAIN) return step;
		}
	}

	private async step(): Promise<Step> {
		const s = this.s;
		const ended = this.endedByStop();
		if (ended) return ended;
		const probe = await this.admit();
		if (probe === undefined) return AGAIN;
		try {
			await s.gate.acquire(s.stopController.signal, this.it.priority);
		} catch {
			if (probe) s.breaker.releaseProbe();
			return AGAIN;
		}
		this.slotHeld = true;
		try {
			return await this.attempt(probe);
		} finally {
			this.releaseSlot();
		}
	}

	private releaseSlot(): void {
		if (!this.slotHeld) return;
		this.slotHeld = false;
		this.s.gate.release();
	}

	/** A cancel or a run-wide stop ends the item before another attempt. */
	private endedByStop(): Outcome | undefined {
		const s = this.s;
		if (s.options.signal?.aborted)
			return failPaid(this.s, this.it, {
				code: 'canceled',
				message: 'The execution was stopped',
				retryable: true,
				attempts: this.it.attempts,
			});
		if (s.stats.stopped) return failPaid(this.s, this.it, s.stoppedError(this.it.attempts));
		return undefined;
	}

	/** The breaker's gate: true for a probe, false to go, undefined to look again. */
	private async admit(): Promise<boolean | undefined> {
		const s = this.s;
		let admit: 'go' | 'probe' | 'expired';
		try {
			admit = await s.breaker.admit(s.stopController.signal);
		} catch {
			return undefined; // stopped while the circuit was open: the loop head decides
		}
		if (admit !== 'expired') return admit === 'probe';
		s.options.onEvent?.({ type: 'circuit', action: 'stop', failureShare: s.breaker.failureShare });
		s.stop(
			'circuit_open',
			`the provider failed every probe for ${waitText(s.breaker.outageLastedMs)} (outage time ${waitText(s.breaker.outageMs)})`,
		);
		return undefined;
	}

	/** One attempt, holding a slot. */
	private async attempt(probe: boolean): Promise<Step> {
		const s = this.s;
		const { clock } = s.options;
		// Claimed before every attempt (renewing the lease), once this item holds a slot so no
		// more records are "processing" than requests can be in flight: another execution of the
		// same job never sends this record meanwhile, and a crashed one's claim expires.
		const claimedAt = clock.now();
		const claim = this.groupJustClaimed ? undefined : await s.claims.claim(this.it.item);
		this.groupJustClaimed = false;
		if (claim) {
			if (probe) s.breaker.releaseProbe();
			return claim;
		}
		const cleared = await this.clearToSend(probe);
		if (!cleared) return AGAIN;
		if (clock.now() - claimedAt > CLAIM_RENEW_AFTER_MS) {
			// A long wait (breaker, slot, rate): renew the lease right before sending.
			const renewed = await s.claims.claim(this.it.item);
			if (renewed) {
				await s.meter.release(cleared.ticket);
				if (probe) s.breaker.releaseProbe();
				return renewed;
			}
		}
		const answer = await this.send(cleared);
		const judged = judge(this.s, this.it, answer, probe);
		if (answer.result) return this.succeed(answer.result, answer.stoppedBefore);
		if (!answer.error) throw new Error('unreachable: neither result nor error');
		this.releaseSlot();
		return afterError(this.s, this.it, answer.error, answer.res, probe, judged);
	}

	/**
	 * The rate (flow controller) and the meter: the request's most is reserved before it is
	 * sent, so no cap is passed by requests in flight. Undefined: not sent, look again.
	 */
	private async clearToSend(probe: boolean): Promise<Cleared | undefined> {
		const s = this.s;
		const item = this.it.item;
		const stopSignal = s.stopController.signal;
		// Anthropic's input-token limit does not count cache reads: once the cache is warm, the
		// cached prefix is not charged.
		const anthropic = s.options.provider.name === 'anthropic';
		const uncounted = anthropic && s.warm ? (item.cachePrefixTokens ?? 0) : 0;
		const turn = this.it.followUp ? followUpTokens(this.it.followUp) : 0;
		const estimate = item.inputTokens - uncounted + this.it.maxTokens + turn;
		const notSent = () => {
			if (probe) s.breaker.releaseProbe();
			return undefined;
		};
		try {
			await s.options.flow.acquire(estimate, stopSignal);
		} catch {
			return notSent(); // stopped while queued: the loop head produces the outcome
		}
		if (s.stats.stopped || s.options.signal?.aborted) return notSent();
		// The circuit opened while this item waited for a slot or the rate: back to the breaker's
		// gate, or an outage gets every item already queued sent into it.
		if (!probe && s.breaker.isOpen) return undefined;
		// The tier is chosen last, right before the request goes: one that waited past the Flex
		// Deadline goes out at the standard tier.
		const tier = tierAt(s.options, s.options.clock.now());
		const reservation = await s.meter.reserve(
			item.request.model,
			{
				inputTokens: item.inputTokens + turn,
				outputTokens: this.it.maxTokens,
				cacheWrite: item.request.cache?.ttl,
				serviceTier: tier,
			},
			stopSignal,
		);
		if (!reservation || 'refused' in reservation) {
			if (reservation) s.stop('budget_exceeded', reservation.refused);
			return notSent();
		}
		return { ticket: reservation.ticket, estimate, tier };
	}

	/** Sends the request; the answer is paid the moment it comes, before it is read. */
	private async send({ ticket, estimate, tier }: Cleared): Promise<Answer> {
		const s = this.s;
		const { clock, provider, flow } = s.options;
		const item = this.it.item;
		this.it.attempts++;
		const started = clock.now();
		let error: LlmBatchError | undefined;
		let res: ChatResponse | undefined;
		try {
			// The item's follow-up turn is `it.followUp` alone: a workflow re-ask starts with the one
			// on its request, and a fresh fix clears it, so the fresh call is the prompt alone.
			const request = {
				...item.request,
				maxTokens: this.it.maxTokens,
				followUp: this.it.followUp,
				...(tier === undefined ? {} : { serviceTier: tier }),
			};
			res = await provider.complete(request, {
				signal: s.cancelController.signal,
				timeoutMs: timeoutAt(s.options, tier),
				now: () => clock.now(),
			});
			s.warm = true;
			// What the provider counts against its limit (Anthropic: without cache reads).
			const anthropic = provider.name === 'anthropic';
			const counted = res.usage.inputTokens - (anthropic ? (res.usage.cachedInputTokens ?? 0) : 0);
			flow.correct(estimate - this.it.maxTokens, counted);
		} catch (e) {
			error = classifyError(e, provider.name, clock.now());
		}
		const latencyMs = clock.now() - started;
		if (res) {
			s.countSpend(res, await s.meter.settle(ticket, res.usage));
			if (ticket.paidUsd > 0) this.it.tickets.push(ticket);
		} else await s.meter.release(ticket);
		const stoppedBefore = s.stats.stopped !== undefined;
		if (!res) return { error, latencyMs, stoppedBefore };
		flow.observe({ outcome: 'ok', rateLimit: res.rateLimit });
		try {
			return { res, result: this.read(res, latencyMs), latencyMs, stoppedBefore };
		} catch (e) {
			return { res, error: classifyError(e, provider.name, clock.now()), latencyMs, stoppedBefore };
		}
	}

	/** The answer as a result (with what earlier unusable answers cost), or the error it is. */
	private read(res: ChatResponse, latencyMs: number): LlmResult {
		const s = this.s;
		let result = s.interpret(this.it.item, res, this.it.attempts, latencyMs);
		if (this.it.spent) result = s.withSpent(result, this.it.item, this.it.spent);
		if (this.it.reasks - this.it.freshFixes > 0)
			result.reasks = this.it.reasks - this.it.freshFixes;
		if (this.it.item.priorAttempts) result.attempts += this.it.item.priorAttempts;
		return result;
	}

	private async succeed(result: LlmResult, stoppedBefore: boolean): Promise<Outcome> {
		const s = this.s;
		const item = this.it.item;
		if (stoppedBefore) s.stats.keptAfterStop = (s.stats.keptAfterStop ?? 0) + 1;
		s.countAnswered(result.serviceTier);
		if (item.group) s.claims.keepGroupTickets(item, this.it.tickets);
		else await s.claims.succeeded(result, this.it.tickets);
		return { index: item.index, ok: true, result };
	}
}
