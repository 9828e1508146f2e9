/**
 * What a Collect says in the output pane: counts of the records it emitted, then whatever
 * needs a look — batches still running or collected by another execution, answers in
 * conflict, grouped requests not attributed beyond doubt, lines that could not be read or
 * matched, adoptions undone.
 */
import type { CollectResult } from './collect';

export function collectSummary(
	job: string,
	res: CollectResult,
	emitted: { succeeded: number; failed: number },
	notes: readonly string[] = [],
): { message: string; warning: boolean } {
	const parts = [
		`${emitted.succeeded} succeeded, ${emitted.failed} failed from ${res.collected.length} batch(es)`,
	];
	if (res.pending.length > 0) parts.push(`${res.pending.length} batch(es) still running`);
	if (res.busy.length > 0)
		parts.push(
			`${res.busy.length} batch(es) being collected by another execution right now (it emits their records)`,
		);
	if (res.conflicts > 0)
		parts.push(
			`${res.conflicts} record(s) had two different answers in the results (Failed duplicate)`,
		);
	const g = res.grouped;
	if (g.groups > 0) {
		const alone = Object.values(g.alone).reduce((a, b) => a + b, 0);
		parts.push(
			`${g.groups} grouped request(s) read: ${g.answered} record(s) answered from them${alone > 0 ? `, ${alone} not attributed beyond doubt (Failed, retryable: the next Submit sends them alone)` : ''}${g.groupsFailed > 0 ? `, ${g.groupsFailed} grouped answer(s) unusable as a whole` : ''}`,
		);
	}
	if (res.unreadable > 0) parts.push(`${res.unreadable} result line(s) could not be read`);
	if (res.late > 0) parts.push(`${res.late} late answer(s) stored in the ledger`);
	if (res.unmatched > 0) parts.push(`${res.unmatched} result line(s) matched no record`);
	if (res.unadopted.length > 0)
		parts.push(
			`${res.unadopted.length} batch(es) adopted after a crash were not this job's (un-adopted; their records are submitted again by the next Submit)`,
		);
	parts.push(...notes);
	return {
		message: `Job ${job}: ${parts.join('; ')}`,
		warning:
			emitted.failed > 0 || res.unmatched > 0 || res.unadopted.length > 0 || res.busy.length > 0,
	};
}
