/**
 * One item's state across its attempts (./attempt.ts sends, ./verdict.ts decides), how an
 * attempt ends, and how an item that fails keeps what it paid.
 */
import type { Ticket } from './budget';
import type { Deferred } from './claims';
import type { LlmBatchError } from './errors';
import type { ChatRequest, ChatResponse } from './providers/types';
import type { FixKind } from './reask';
import type { FirstPass, RunState, SecondPass } from './run-state';
import type { Outcome, RunItem } from './types';
import { estimateTokens } from '../tokens';
import type { ErrorCode, ItemError, LlmResult, Usage } from '../types';

export type ItemEnd = Outcome | Deferred | SecondPass;

/** The attempt did not end the item: the loop head looks again (stop, cancel, breaker). */
export const AGAIN = Symbol('again');
export type Step = ItemEnd | typeof AGAIN;

/** An answer that came back but is not the JSON asked for: what a re-ask or a fresh call fixes. */
export const INVALID_ANSWER: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
	'malformed_output',
	'schema_violation',
]);

/** What one attempt got back. */
export interface Answer {
	res?: ChatResponse;
	result?: LlmResult;
	error?: LlmBatchError;
	latencyMs: number;
	/** The run had stopped by the time the answer came (it is kept: it is paid). */
	stoppedBefore: boolean;
}

/** One item's state across its attempts. */
export interface ItemState {
	readonly item: RunItem;
	/** Its first pass, when this is its second. */
	readonly before: FirstPass | undefined;
	/** The run's first item: its first answer proves the configuration. */
	readonly proving: boolean;
	attempts: number;
	failures: number;
	rateWaits: number;
	/** Flex `resource_unavailable` answers waited out (never attempts). */
	capacityWaits: number;
	malformed: number;
	maxTokens: number;
	/** Back from a wait: first in line for the next slot. */
	priority: boolean;
	/**
	 * The follow-up turn of a re-ask; a re-ask fed from the workflow (Validate Output's Invalid
	 * output looped back) starts with it.
	 */
	followUp: ChatRequest['followUp'];
	reasks: number;
	/** Of the fix calls counted in `reasks`: fresh calls (no follow-up turn). */
	freshFixes: number;
	/**
	 * The fix whose answer is awaited (its outcome teaches the chooser), and whether this item's
	 * first answer was seen (first answers tell how often a fresh draw is valid).
	 */
	pendingFix: FixKind | undefined;
	answeredBefore: boolean;
	/**
	 * Usage of answers that came back but could not be used (re-asked): paid, so added to the
	 * result that finally comes.
	 */
	spent: Usage | undefined;
	/** This run's paid requests for the item (the meter's tickets). */
	readonly tickets: Ticket[];
}

/**
 * A new item, or one on its second pass: attempts go on counting (the item reports them all),
 * Max Attempts applies to this pass's, the backoff starts over.
 */
export function itemState(s: RunState, item: RunItem, first: boolean): ItemState {
	const before = s.firstPass.get(item);
	const followUp = item.request.followUp;
	return {
		item,
		before,
		proving: first && s.proof !== undefined,
		attempts: before?.attempts ?? 0,
		failures: 0,
		rateWaits: 0,
		capacityWaits: 0,
		malformed: 0,
		maxTokens: item.request.maxTokens,
		priority: false,
		followUp,
		reasks: before?.reasks ?? (followUp ? 1 : 0),
		freshFixes: before?.freshFixes ?? 0,
		pendingFix: undefined,
		answeredBefore: before !== undefined || followUp !== undefined,
		spent: before ? before.spent : item.priorUsage,
		tickets: before ? before.tickets : [],
	};
}

/**
 * The item fails; it keeps what its unusable answers cost (a job budget counts it from the
 * ledger). A group's answers are shared out by core/call/group.ts instead.
 */
export function failPaid(s: RunState, it: ItemState, error: ItemError): Outcome {
	const item = it.item;
	if (item.group) s.claims.keepGroupTickets(item, it.tickets);
	if (!it.spent || item.group) return s.fail(item, error);
	const costUsd = s.meter.costOf(item.request.model, it.spent);
	const usage = it.spent;
	const out = s.fail(item, { ...error, usage, ...(costUsd === undefined ? {} : { costUsd }) });
	s.claims.recordWhenCommitted(item, it.tickets);
	return out;
}

/** The re-ask turn's tokens, estimated as prompts are (the limiter's charge, the meter's reservation). */
export function followUpTokens(f: NonNullable<ChatRequest['followUp']>): number {
	return estimateTokens(`${f.answer}\n${f.errors}`) + 8;
}
