/**
 * When a failed record may be sent to a batch again — one rule, used by Submit (a workflow
 * run again) and by Resubmit: only a failure a new submission can fix, and only while the
 * record has had fewer submissions than the limit.
 */
import type { ItemError } from '../types';

/** Codes a resubmission can fix; an invalid request or a refusal stays what it is. */
export const RESUBMITTABLE: ReadonlySet<string> = new Set([
	'expired',
	'canceled',
	// A realtime run of the same job stopped before sending these records.
	'ledger_unavailable',
	'limit_store_unavailable',
	'server_error',
	'rate_limited',
	'timeout',
	'connection',
]);

/**
 * Failures of a grouped request's answer (Records per Request) rather than of the record: a
 * record that failed so in a group is sent again, alone (as LLM Batch Call sends it at once).
 */
export const GROUP_ANSWER_FAILURES: ReadonlySet<string> = new Set([
	'malformed_output',
	'schema_violation',
	'content_filter',
	'truncated',
	'invalid_request',
]);

/** Submissions per record (the first counts), unless the node says otherwise. */
export const DEFAULT_MAX_SUBMISSIONS = 3;

export type ResendRefusal = 'not_retryable' | 'over_limit';

/**
 * Why a record that failed with `lastError` after `submissions` submissions is not sent
 * again, or undefined when it may be. `grouped`: its last submission was in a grouped request.
 */
export function resendRefusal(
	lastError: ItemError,
	submissions: number,
	maxSubmissions: number,
	grouped = false,
): ResendRefusal | undefined {
	if (!RESUBMITTABLE.has(lastError.code) && !(grouped && sendAlone(lastError)))
		return 'not_retryable';
	if (submissions >= maxSubmissions) return 'over_limit';
	return undefined;
}

/**
 * Submissions a record's latest batch entry stands for: its round, less one when that
 * submission never reached a batch (the create was refused, or the batch proved another's).
 */
export function submissionsOf(entry: { batchId: string; round: number } | undefined): number {
	if (!entry) return 0;
	return entry.batchId.startsWith('abandoned:') ? entry.round - 1 : entry.round;
}

/** Whether a record that failed so in a grouped request goes alone next time. */
export function sendAlone(lastError: ItemError): boolean {
	return GROUP_ANSWER_FAILURES.has(lastError.code);
}
