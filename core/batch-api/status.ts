/**
 * Check Status and Cancel of LLM Batch Job: each uncollected batch's state and counts from the
 * provider; past the deadline, batches that are still running are cancelled.
 */
import { assertJobKnown } from './job-check';
import { cancelBatch, liveRows, refresh, type JobContext } from './context';
import type { BatchCounts, BatchStatus } from './types';

export interface StatusResult {
	batches: Array<
		BatchStatus & { job: string; requestCount: number; round: number; collected: boolean }
	>;
	/**
	 * Every batch has ended — past the deadline too, once the cancels asked for have ended (a
	 * batch still `canceling` holds answers that will be collected, so it is waited for).
	 */
	allEnded: boolean;
	deadlineReached: boolean;
	totals: BatchCounts;
}

function addCounts(a: BatchCounts, b: BatchCounts): BatchCounts {
	return {
		total: a.total + b.total,
		processing: a.processing + b.processing,
		succeeded: a.succeeded + b.succeeded,
		errored: a.errored + b.errored,
		canceled: a.canceled + b.canceled,
		expired: a.expired + b.expired,
	};
}

const ZERO: BatchCounts = {
	total: 0,
	processing: 0,
	succeeded: 0,
	errored: 0,
	canceled: 0,
	expired: 0,
};

/**
 * Past the deadline a running batch is cancelled; it ends when the provider has stopped it
 * (at once, or after `canceling`), and Collect then takes what it finished as Success.
 */
export async function cancelAtDeadline(
	ctx: JobContext,
	status: BatchStatus,
	row: Parameters<typeof cancelBatch>[1],
) {
	if (status.state === 'ended' || status.state === 'canceling') return status;
	return await cancelBatch(ctx, row);
}

/**
 * Each uncollected batch's state and counts. A job the ledger does not know, or one submitted
 * to another provider, is a JobConfigError before any call.
 */
export async function jobStatus(
	ctx: JobContext,
	o: { batchIds?: readonly string[]; deadline?: number } = {},
): Promise<StatusResult> {
	await assertJobKnown(ctx);
	const rows = await liveRows(ctx, o.batchIds);
	const deadlineReached = o.deadline !== undefined && ctx.clock.now() >= o.deadline;
	const out: StatusResult['batches'] = [];
	let allEnded = true;
	let totals = ZERO;
	for (const row of rows) {
		let status = await refresh(ctx, row);
		if (deadlineReached) status = await cancelAtDeadline(ctx, status, row);
		if (status.state !== 'ended') allEnded = false;
		totals = addCounts(totals, status.counts);
		out.push({
			...status,
			job: ctx.job,
			requestCount: row.requestCount,
			round: row.round,
			collected: row.collectedAt !== null,
		});
	}
	return { batches: out, allEnded, deadlineReached, totals };
}

export async function cancelJob(
	ctx: JobContext,
	o: { batchIds?: readonly string[] } = {},
): Promise<BatchStatus[]> {
	await assertJobKnown(ctx);
	const out: BatchStatus[] = [];
	for (const row of await liveRows(ctx, o.batchIds)) {
		const status = await refresh(ctx, row);
		out.push(
			status.state === 'ended' || status.state === 'canceling'
				? status
				: await cancelBatch(ctx, row),
		);
	}
	return out;
}
