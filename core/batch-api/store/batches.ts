/**
 * The batch-API side of the ledger (LLM Batch Job): which provider batches a job created,
 * and which record went into which batch with its request and input item, so a job can be
 * submitted again without resubmitting anything live or done, collected in another
 * execution, and resubmitted. Kept apart from the record tables (same database, own tables).
 */
import type { KeptFile, KeptFileMeta } from '../files';
import type { BatchCounts } from '../types';
import type { ProviderName } from '../../types';

export interface BatchRow {
	job: string;
	batchId: string;
	provider: ProviderName;
	model: string;
	/** Normalised state (see core/batch-api BatchState). */
	state: string;
	providerStatus: string;
	requestCount: number;
	counts: BatchCounts | null;
	/** 1 for the first submission, 2 for a first resubmission… */
	round: number;
	createdAt: string;
	expiresAt: string | null;
	endedAt: string | null;
	/** Set once its results were read and every record emitted. */
	collectedAt: string | null;
	updatedAt: string;
	/** Who holds the right to publish its results (a Collect's claim owner), while it does. */
	collectOwner?: string | null;
	/** ISO end of that lease. */
	collectUntil?: string | null;
}

/** One record's latest submission. */
export interface BatchEntry {
	recordId: string;
	customId: string;
	batchId: string;
	promptHash: string;
	/** The request (ChatRequest) as JSON, for a resubmission. */
	request: string;
	/** The input item's JSON, so Collect (another execution) emits the record with its fields. */
	item: string;
	/** The input item's position in the Submit execution. */
	itemIndex: number;
	round: number;
	/**
	 * The record already left Collect (on Success or Failed), or is being published by the
	 * Collect that holds its batch's collect lease (see markPublishing).
	 */
	emitted: boolean;
	submittedAt: string;
	/**
	 * Written only (addPending, addBatch): the binary properties of the record's input item,
	 * kept files with their bytes, replacing what the ledger kept for the record before, in the
	 * same transaction as its payload. Absent: what the ledger keeps for it stays (Resubmit).
	 */
	files?: readonly KeptFile[];
}

/** What reading an answer needs from its request (ChatRequest), without the prompt. */
export interface AnswerSpec {
	model: string;
	maxTokens: number;
	/** The request's JSON Schema as JSON text, or null without structured output. */
	schema: string | null;
}

/** An entry as Collect joins it to a result line: the request replaced by its AnswerSpec. */
export type AnswerEntry = Omit<BatchEntry, 'request'> & { answer: AnswerSpec };

export type BatchRowPatch = Partial<
	Pick<BatchRow, 'state' | 'providerStatus' | 'counts' | 'endedAt' | 'collectedAt'>
>;

export interface BatchJobStore {
	init(): Promise<void>;
	/** A new batch with its entries, in one transaction; an entry replaces the record's earlier one. */
	addBatch(batch: BatchRow, entries: readonly BatchEntry[]): Promise<void>;
	updateBatch(job: string, batchId: string, patch: BatchRowPatch, at: string): Promise<void>;
	/** The job's batches by creation; `uncollected` = results not yet read. */
	batches(job: string, options?: { uncollected?: boolean }): Promise<BatchRow[]>;
	/** The latest entries of these records. */
	entries(job: string, recordIds: readonly string[]): Promise<Map<string, BatchEntry>>;
	/** Entries whose latest submission is this batch. */
	batchEntries(job: string, batchId: string): Promise<BatchEntry[]>;
	/**
	 * The entries of this batch (latest submission) with these custom IDs, by custom ID: Collect
	 * joins a bounded chunk of result lines at a time instead of holding the whole batch. Read
	 * without the request (the prompt is not needed to read an answer; reading it was a third
	 * of a Collect's allocations), with what reading the answer needs instead.
	 */
	entriesByCustomId(
		job: string,
		batchId: string,
		customIds: readonly string[],
	): Promise<Map<string, AnswerEntry>>;
	/** Up to `limit` entries of this batch not emitted yet (marking them emitted moves on). */
	unemittedEntries(job: string, batchId: string, limit: number): Promise<BatchEntry[]>;
	/** All entries of the job ordered by record ID, one page. */
	listEntries(job: string, afterRecordId: string, limit: number): Promise<BatchEntry[]>;
	markEmitted(job: string, recordIds: readonly string[]): Promise<void>;
	/**
	 * Publishing, claimed: a Collect takes a batch's collect lease before it emits any of its
	 * records. Compare-and-set: taken only when the lease is still held by `previous` (null: by
	 * nobody) and the batch is not collected. Taking over an unreleased lease (its Collect died
	 * or stalled) makes what that Collect had published unpublished again, in the same
	 * transaction, so the new holder emits it: nothing it never handed on is lost.
	 */
	takeCollectLease(
		job: string,
		batchId: string,
		lease: { owner: string; until: string; previous: string | null },
	): Promise<boolean>;
	/** Extends every collect lease `owner` holds in the job; returns how many it still holds. */
	renewCollectLeases(job: string, owner: string, until: string): Promise<number>;
	/** Records published by the holder of their batch's collect lease, not yet final. */
	markPublishing(job: string, recordIds: readonly string[]): Promise<void>;
	/**
	 * The Collect of `owner` handed its items on: in one transaction, only if it still holds
	 * all `held` leases, what it published becomes emitted, the batches read to the end are
	 * stamped collected and its leases end. False (nothing changed) when a lease was lost.
	 */
	finishCollect(
		job: string,
		o: { owner: string; held: number; collected: readonly string[]; at: string },
	): Promise<boolean>;
	/** The Collect of `owner` failed: what it published is unpublished, its leases end. */
	releaseCollect(job: string, owner: string): Promise<void>;
	/** Job names this ledger knows batches or entries of (for an unknown job's message). */
	jobNames(limit: number): Promise<string[]>;
	/**
	 * Records an intent before the provider is asked to create a batch: the entries point at
	 * `pendingId` (see pendingBatchId) until adoptPending moves them to the real batch, so a
	 * crash between the provider's accept and the ledger write leaves a trace to adopt.
	 */
	addPending(job: string, pendingId: string, entries: readonly BatchEntry[]): Promise<void>;
	/**
	 * The job's pending intents: ID, how many entries (records), how many request lines they
	 * make (a grouped request's records count once), when submitted.
	 */
	pending(
		job: string,
	): Promise<Array<{ pendingId: string; count: number; requests: number; submittedAt: string }>>;
	/**
	 * The provider batch of an intent: the batch row (if new) and its entries, one transaction.
	 * `provisional`: adopted without proof it is ours (Anthropic: no metadata); listed by
	 * `provisional` until confirmAdoption or unadopt.
	 */
	adoptPending(
		job: string,
		pendingId: string,
		batch: BatchRow,
		options?: { provisional?: boolean },
	): Promise<void>;
	/** The job's provisionally adopted batches. */
	provisional(job: string): Promise<string[]>;
	/** A provisional batch proved ours (its results' custom_ids): an ordinary batch from now on. */
	confirmAdoption(job: string, batchId: string): Promise<void>;
	/**
	 * A provisional batch proved not ours: its row is forgotten and its records are free to be
	 * submitted again (as an abandoned intent's), one transaction.
	 */
	unadopt(job: string, batchId: string): Promise<void>;
	/** Which of these provider batch IDs a batch row of any job in this ledger owns. */
	ownedBatchIds(batchIds: readonly string[]): Promise<Set<string>>;
	/** An intent the provider never accepted: its entries count as emitted (free to submit again). */
	abandonPending(job: string, pendingId: string): Promise<void>;
	/** The binary properties the ledger keeps for these records (no bytes), by record ID. */
	recordFiles(job: string, recordIds: readonly string[]): Promise<Map<string, KeptFileMeta[]>>;
	/** A kept file's bytes by its sha256; undefined when the ledger does not hold it. */
	fileBytes(sha256: string): Promise<Buffer | undefined>;
	/**
	 * Forgets the job's batches, entries and kept files (Batch Ledger's Delete Job): a file goes
	 * with the last record of any job that refers to it. Returns the batches and files deleted.
	 */
	deleteJob(job: string): Promise<{ batches: number; files: number }>;
	close(): Promise<void>;
}

export { ADOPTIONS_TABLE, BATCHES_TABLE, ENTRIES_TABLE } from './sql';

const PENDING = 'pending:';

/** The placeholder batch ID of an intent: its submission key and the claim owner of the process. */
export function pendingBatchId(key: string, owner: string): string {
	return `${PENDING}${key}:${owner}`;
}

/** The submission key and owner of a placeholder batch ID; undefined for a real batch ID. */
export function parsePendingId(id: string): { key: string; owner: string } | undefined {
	if (!id.startsWith(PENDING)) return undefined;
	const rest = id.slice(PENDING.length);
	const colon = rest.indexOf(':');
	return colon < 0 ? undefined : { key: rest.slice(0, colon), owner: rest.slice(colon + 1) };
}
