/**
 * What the job-level operations of LLM Batch Job share: the job's context, and the helpers
 * Check Status, Collect and Cancel use (status.ts, collect.ts). Submit, resubmit and the
 * adoption of unrecorded submissions live in submit.ts and pending.ts. Pure orchestration: no
 * n8n import; the node turns the results into items.
 */
import type { BatchRow } from './store/batches';
import type { JobContext } from './job-context';
import { resolvePending } from './pending';
import type { BatchStatus } from './types';

export { resolvePending, settleProvisional } from './pending';

export type { JobContext } from './job-context';

export const iso = (ms: number) => new Date(ms).toISOString();

/** The job's batches whose results are not collected yet (or the given IDs), refreshed from the provider. */
export async function liveRows(ctx: JobContext, batchIds?: readonly string[]): Promise<BatchRow[]> {
	await resolvePending(ctx);
	const rows = await ctx.batches.batches(ctx.job, {
		uncollected: !batchIds || batchIds.length === 0,
	});
	return batchIds && batchIds.length > 0 ? rows.filter((r) => batchIds.includes(r.batchId)) : rows;
}

export async function refresh(ctx: JobContext, row: BatchRow): Promise<BatchStatus> {
	const status = await ctx.api.retrieve(row.batchId);
	await ctx.batches.updateBatch(
		ctx.job,
		row.batchId,
		{
			state: status.state,
			providerStatus: status.providerStatus,
			counts: status.counts,
			endedAt: status.endedAt,
		},
		iso(ctx.clock.now()),
	);
	return status;
}

/** Asks the provider to cancel; what had finished is still collected. */
export async function cancelBatch(ctx: JobContext, row: BatchRow): Promise<BatchStatus> {
	if ((await ctx.batches.provisional(ctx.job)).includes(row.batchId)) {
		// Adopted without proof it is ours: it may be another workflow's batch, never cancelled.
		ctx.log?.(
			`Job ${ctx.job}: batch ${row.batchId} not cancelled: adopted after a crash, not yet proved this job's`,
		);
		return await ctx.api.retrieve(row.batchId);
	}
	const status = await ctx.api.cancel(row.batchId);
	await ctx.batches.updateBatch(
		ctx.job,
		row.batchId,
		{ state: status.state, providerStatus: status.providerStatus, counts: status.counts },
		iso(ctx.clock.now()),
	);
	return status;
}

/**
 * Result lines joined, classified and committed per chunk of this many: what Collect holds
 * at a time (entries with their requests, parsed lines) whatever the batch size.
 */
export const COLLECT_CHUNK = 200;
