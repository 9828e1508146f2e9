/**
 * The progress of a job bigger than one execution, as the ledger sees it, and the claim of its
 * one report.
 *
 * A job whose records are all registered up front is complete when none is pending or being
 * processed. A job whose chunks read their own slice of the source (so no execution ever holds
 * the whole source) registers its records only as each chunk runs: until the last chunk has
 * started, "nothing pending" says nothing. Such a chunk marks itself done in the ledger — a
 * record `chunk-<n>` of the side job `<job>#chunks` — and the job is complete once every chunk
 * of the job is marked and no record is pending or processing. The chunk that marks last sees
 * every mark (each chunk marks before it reads), so exactly that one, or one of those finishing
 * at the same moment, finds the job complete; the report claim then picks a single reporter.
 */
import type { JobStats, LedgerStore } from './types';

/** A claim on the job's report lasts a day: the same job name rerun later reports again. */
export const REPORT_CLAIM_MS = 24 * 60 * 60_000;

/** Side jobs beside the job's own records, so the job's stats never count them. */
export const chunksJob = (job: string) => `${job}#chunks`;
export const reportJob = (job: string) => `${job}#report`;

export interface JobProgressOptions {
	/** This execution's chunk (any stable text: its number, its offset); marked done before reading. */
	readonly chunk?: string;
	/** How many chunks the job has; 0 or absent: records were registered up front. */
	readonly chunks?: number;
	/** Claim the right to report the job when it is complete. @default false */
	readonly claimReport?: boolean;
	/** Who claims (this process's claim owner). */
	readonly owner: string;
	/** ISO time of the writes. */
	readonly at: string;
	/** Epoch ms now (the report claim's lease starts here). */
	readonly now: number;
}

export interface JobProgress extends JobStats {
	/** Chunks marked done, when the job counts chunks. */
	chunksDone?: number;
	/** The job's chunks, when it counts them. */
	chunks?: number;
	/** Every chunk marked (when counted) and no record pending or processing. */
	complete: boolean;
	/** With claimReport: whether this call won the report (false also when not complete). */
	reportClaimed?: boolean;
}

/** True when every registered record has a final status and, when counted, every chunk is done. */
export function isJobComplete(
	p: Pick<JobStats, 'total' | 'pending' | 'processing'> & {
		chunks?: number;
		chunksDone?: number;
	},
): boolean {
	if (p.pending !== 0 || p.processing !== 0) return false;
	if (p.chunks !== undefined && p.chunks > 0) return (p.chunksDone ?? 0) >= p.chunks;
	return p.total > 0;
}

/** Marks the chunk done (when given), reads the job's stats, and claims the report when asked. */
export async function jobProgress(
	store: LedgerStore,
	job: string,
	options: JobProgressOptions,
): Promise<JobProgress> {
	const chunks = options.chunks ?? 0;
	if (!Number.isInteger(chunks) || chunks < 0)
		throw new TypeError(`Expected \`chunks\` to be a whole number ≥ 0, got ${chunks}`);
	const chunk = options.chunk?.trim() ?? '';
	if (chunks > 0 && chunk === '')
		throw new TypeError('Expected `chunk` when the job counts its chunks');
	if (chunk !== '') {
		// A pending write creates the mark once; a chunk run again leaves it as it is.
		await store.writeBatch(chunksJob(job), [
			{ type: 'pending', recordId: `chunk-${chunk}`, at: options.at },
		]);
	}
	const stats = await store.stats(job);
	const progress: JobProgress = { ...stats, complete: false };
	if (chunks > 0) {
		progress.chunks = chunks;
		progress.chunksDone = (await store.stats(chunksJob(job))).total;
	}
	progress.complete = isJobComplete(progress);
	if (options.claimReport) {
		let claimed = false;
		if (progress.complete) {
			const states = await store.claim(
				reportJob(job),
				[{ recordId: 'report', promptHash: '' }],
				options.owner,
				options.at,
				new Date(options.now + REPORT_CLAIM_MS).toISOString(),
			);
			claimed = states.get('report')?.status === 'claimed';
		}
		progress.reportClaimed = claimed;
	}
	return progress;
}
