/**
 * Which provider batch a submission the ledger never recorded (the process died between the
 * provider's accept and the ledger write, or the create's answer was lost) is adopted from:
 * only the one that provably is the submission's. Every submission carries a nonce, written
 * to the ledger before the create: OpenAI batches carry it in their metadata (the match is
 * exact); Anthropic message batches carry nothing but their requests, so a candidate (the
 * size, the creation window) is adopted only once it has ended and its results' custom_ids
 * carry the nonce. Size and time alone never adopt: another workflow's batch of the same
 * records looks alike. Pure: the caller lists, reads and writes; this decides.
 */
import type { BatchStatus } from './types';

/** The create call's timeout (both SDKs' default): a batch accepted later than this after the intent was written is not its answer. */
export const CREATE_TIMEOUT_MS = 10 * 60_000;
/** Clock difference tolerated between this host and the provider. */
export const CLOCK_SKEW_MS = 2 * 60_000;

/** What reading a candidate's results said: its custom_ids carry the submission's nonce, or not (or it has none to read). */
export type Verdict = 'ours' | 'foreign';

/** When the provider may have created the batch of an intent written at `writtenAt`. */
export function adoptionWindow(writtenAt: number): { from: number; to: number } {
	return { from: writtenAt - CLOCK_SKEW_MS, to: writtenAt + CREATE_TIMEOUT_MS + CLOCK_SKEW_MS };
}

export interface AdoptionInput {
	/** When the intent was written (before the create call). */
	writtenAt: number;
	/** Requests in the intent. */
	count: number;
	/** The process that wrote the intent is gone: it will never record the batch itself. */
	ownerGone: boolean;
	/** What the provider listed: `byKey` when it matched the submission key (OpenAI metadata). */
	found: { byKey: boolean; batches: readonly BatchStatus[] };
	/** Batch IDs some ledger row already owns (any job): never a candidate. */
	owned: ReadonlySet<string>;
	/** Candidates whose results were read already. */
	verdicts: ReadonlyMap<string, Verdict>;
	now: number;
}

export type AdoptionStep =
	| { kind: 'adopt'; batch: BatchStatus }
	/** Ended candidates to read (custom_ids) before deciding. */
	| { kind: 'verify'; batches: readonly BatchStatus[] }
	| { kind: 'wait'; reason: string }
	/** The provider has no batch for it: its records are free again. */
	| { kind: 'abandon'; reason: string };

/** The batches that could be the intent's: its size, created in its window, owned by nobody, not read as foreign. */
export function adoptionCandidates(input: AdoptionInput): BatchStatus[] {
	const w = adoptionWindow(input.writtenAt);
	return input.found.batches.filter((b) => {
		const created = Date.parse(b.createdAt);
		return (
			b.counts.total === input.count &&
			created >= w.from &&
			created <= w.to &&
			!input.owned.has(b.id) &&
			input.verdicts.get(b.id) !== 'foreign'
		);
	});
}

/** The next step for one intent (call again after a `verify` with the verdicts added). */
export function nextAdoptionStep(input: AdoptionInput): AdoptionStep {
	if (input.found.byKey && input.found.batches.length > 0)
		return { kind: 'adopt', batch: input.found.batches[0] };
	const candidates = adoptionCandidates(input);
	const ours = candidates.filter((b) => input.verdicts.get(b.id) === 'ours');
	if (ours.length === 1) return { kind: 'adopt', batch: ours[0] };
	if (ours.length > 1)
		return { kind: 'wait', reason: `${ours.length} batches carry this submission's nonce` };
	const unread = candidates.filter((b) => b.state === 'ended' && !input.verdicts.has(b.id));
	if (unread.length > 0) return { kind: 'verify', batches: unread };
	// Past the window no batch of this intent can appear any more; a gone owner cannot create one.
	const settled = input.ownerGone || input.now > adoptionWindow(input.writtenAt).to;
	const running = candidates.filter((b) => b.state !== 'ended');
	if (running.length === 0) {
		return settled
			? { kind: 'abandon', reason: 'the provider has no batch for this submission' }
			: { kind: 'wait', reason: 'no batch yet; the submitting process may still create it' };
	}
	return {
		kind: 'wait',
		reason: `${running.length} batch(es) of this size created in the window still run; one is adopted only once it has ended and its custom_ids carry this submission's nonce`,
	};
}

/**
 * The verdict on a candidate's results: ours only when it returned lines and every line read
 * carries the submission's nonce (one page is proof: no one else has the nonce).
 */
export function verdictOf(read: { lines: number; matched: number }): Verdict {
	return read.lines > 0 && read.matched === read.lines ? 'ours' : 'foreign';
}
