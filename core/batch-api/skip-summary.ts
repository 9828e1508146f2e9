/**
 * What Submit says about the records it did not send: counts per reason for the skipped item
 * and one phrase per reason (failure codes named) for the node's hint. Duplicates are not
 * counted here: they leave on Failed, one item each.
 */
import type { SkipReason, SubmitResult } from './submit';

type Skipped = SubmitResult['skipped'];

export interface SkipSummary {
	skipped: number;
	alreadySucceeded: number;
	inLiveBatch: number;
	awaitingCreate: number;
	notRetryable: number;
	overLimit: number;
	/** One phrase per reason that occurred, in a fixed order. */
	notes: string[];
}

function byCode(list: Skipped): string {
	const n = new Map<string, number>();
	for (const s of list) n.set(s.code ?? 'unknown', (n.get(s.code ?? 'unknown') ?? 0) + 1);
	return [...n].map(([code, k]) => `${code} ×${k}`).join(', ');
}

export function summarizeSkipped(all: Skipped, maxSubmissions: number): SkipSummary {
	const skipped = all.filter((s) => s.reason !== 'duplicate');
	const by = (reason: SkipReason) => skipped.filter((s) => s.reason === reason);
	const [done, live, awaiting, notRetryable, overLimit] = (
		['succeeded', 'in_batch', 'awaiting_create', 'not_retryable', 'over_limit'] as const
	).map(by);
	const notes: string[] = [];
	if (done.length > 0) notes.push(`${done.length} already succeeded`);
	if (live.length > 0)
		notes.push(
			`${live.length} in a live batch or being sent by another execution (not sent twice)`,
		);
	if (awaiting.length > 0)
		notes.push(
			`${awaiting.length} in an earlier submission whose create got no answer (a later run adopts its batch by its nonce, or frees them)`,
		);
	if (notRetryable.length > 0)
		notes.push(
			`${notRetryable.length} failed and not sent again: not retryable (${byCode(notRetryable)})`,
		);
	if (overLimit.length > 0)
		notes.push(
			`${overLimit.length} failed and not sent again: already in ${maxSubmissions} batch(es), the limit (${byCode(overLimit)})`,
		);
	return {
		skipped: skipped.length,
		alreadySucceeded: done.length,
		inLiveBatch: live.length,
		awaitingCreate: awaiting.length,
		notRetryable: notRetryable.length,
		overLimit: overLimit.length,
		notes,
	};
}
