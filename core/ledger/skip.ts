/**
 * Batch Ledger's Skip Completed: whether a stored record counts as done for an item. Like
 * LLM Batch Call, a result of another prompt is stale: when the item's prompt is known and the
 * stored result says which prompt it answered (`inputHash`), they must match. The node has no
 * provider credential, model or settings, so it cannot compute the answer identity
 * (core/identity.ts): a record answered by another endpoint counts as done here; LLM Batch
 * Call itself, given that record, compares the whole identity and sends it again.
 */
import { inputHash } from '../identity';
import type { LedgerRecord } from './types';

export function isCompletedFor(
	record: LedgerRecord | undefined,
	prompt?: { system: string; prompt: string },
): boolean {
	if (record?.status !== 'succeeded' || !record.result) return false;
	const stored = record.result.inputHash;
	// No prompt given, or a result stored before prompts were hashed: cannot tell, it is done.
	if (!prompt || prompt.prompt === '' || stored === undefined) return true;
	return stored === inputHash(prompt.system, prompt.prompt);
}
