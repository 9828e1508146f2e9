/**
 * Submit of LLM Batch Job: the records that are neither done nor in a batch, split at the
 * provider's caps, each batch claimed before it is uploaded (core/ledger/claims.ts, the same
 * claim LLM Batch Call takes), recorded as an intent carrying a fresh nonce before the create,
 * and recorded as a batch once the provider accepted it. Two Submits of one job at once get
 * disjoint batches, or the second skips; a create the provider refused frees its records.
 */
import type { ChatRequest } from '../call/providers/types';
import { LlmBatchError } from '../call/errors';
import { countNotReused, storedAnswerVerdict, type NotReused } from '../identity';
import { pendingBatchId, type BatchEntry } from './store/batches';
import { claimForSubmission, claimOwner, releaseSubmission } from '../ledger/claims';
import { adoptionWindow } from './adoption';
import { splitIntoBatches, type BatchCaps } from './caps';
import { isMemberCustomId, newSubmissionNonce } from './custom-id';
import { planUnits, unitLines, type BatchGrouping, type Unit } from './grouping';
import { PIECE_BYTES, lineSizes, linesOf, nextTurn } from './lines';
import { packRequest, unpackRequest } from './payload';
import {
	filesToKeep,
	keptBytes,
	notKeptNotes,
	withKeptAttachments,
	type FileNote,
	type RecordBinary,
} from './files';
import { emptyTally, withJobHeartbeat } from '../status/job-heartbeat';
import type { JobContext } from './context';
import { batchRowFor, resolvePending } from './pending';
import {
	DEFAULT_MAX_SUBMISSIONS,
	resendRefusal,
	sendAlone,
	submissionsOf,
	type ResendRefusal,
} from './resend';
import type { BatchStatus } from './types';

/** One record ready for a batch: built by the same input policy as LLM Batch Call. */
export interface PreparedRecord {
	/** Position of the input item in the Submit execution. */
	index: number;
	recordId: string;
	promptHash: string;
	request: ChatRequest;
	/** The input item's JSON (emitted again by Collect). */
	item: Record<string, unknown>;
	/** Submission round: 1 first, +1 per resubmission. @default from the ledger */
	round?: number;
	/**
	 * The input item's binary properties, kept with the record (files.ts) so Collect in any
	 * later execution gives them back. Absent: what the ledger keeps for the record stays
	 * (Resubmit sends what it stored).
	 */
	binary?: readonly RecordBinary[];
}

export type SkipReason =
	/** Succeeded with the same prompt: its answer is in the ledger. */
	| 'succeeded'
	/** In a batch not collected yet, or claimed by another execution that is sending it. */
	| 'in_batch'
	/** In a submission whose create got no answer: the next run finds its batch by nonce, or frees it. */
	| 'awaiting_create'
	| 'duplicate'
	| ResendRefusal;

export interface SubmitResult {
	created: Array<
		BatchStatus & {
			/** Records in the batch. */
			requestCount: number;
			/** Request lines they made (fewer than the records with Records per Request). */
			lines: number;
			round: number;
			indexes: number[];
		}
	>;
	skipped: Array<{
		index: number;
		recordId: string;
		reason: SkipReason;
		batchId?: string;
		/** The last failure's code, for a failed record not sent again. */
		code?: string;
	}>;
	/** Stored answers of the same call not reused (another endpoint or credential): sent again. */
	notReused?: NotReused;
	/** Files of submitted records the ledger did not keep (Keep Files for Collect off excepted), and why. */
	filesNotKept: Array<FileNote & { index: number; recordId: string }>;
}

export interface SubmitOptions {
	caps: BatchCaps;
	/** Requests per batch; 0 = the provider's cap. */
	batchSize?: number;
	model: string;
	/** A failed record is sent again only under this many submissions. @default DEFAULT_MAX_SUBMISSIONS */
	maxSubmissions?: number;
	/**
	 * Records per Request: several records in one batch request (grouping.ts). A request
	 * counts once against the caps and Batch Size, whatever number of records it carries.
	 */
	grouping?: BatchGrouping;
	/** Keep each record's binary data in the ledger for Collect and Resubmit. @default true */
	keepFiles?: boolean;
}

const iso = (ms: number) => new Date(ms).toISOString();

/**
 * The intent: each record's entry pointing at the placeholder `pendingId`, with what Collect
 * and a resubmission need (payload.ts stores the prompt's text once) and its files (files.ts,
 * in the same transaction: a record is never in a batch with its files half written), written
 * a piece at a time. Returns the files not kept.
 */
async function writeIntent(
	ctx: JobContext,
	pendingId: string,
	nonce: string,
	units: ReadonlyArray<Unit<Todo>>,
	o: {
		customIds: (unit: Unit<Todo>, nonce: string, seq: number) => string[];
		keepFiles: boolean;
	},
): Promise<SubmitResult['filesNotKept']> {
	const notKept: SubmitResult['filesNotKept'] = [];
	const at = iso(ctx.clock.now());
	let piece: BatchEntry[] = [];
	let size = 0;
	const flush = async () => {
		await ctx.batches.addPending(ctx.job, pendingId, piece);
		piece = [];
		size = 0;
	};
	const rows = units.flatMap((unit, seq) => {
		const ids = o.customIds(unit, nonce, seq);
		return unit.map((t, k) => ({ t, customId: ids[k] }));
	});
	for (const { t, customId } of rows) {
		const item = JSON.stringify(t.record.item);
		const request = packRequest(t.record.request, t.record.item);
		const { record } = t;
		const files = record.binary && (await filesToKeep(record.binary, o.keepFiles));
		for (const note of notKeptNotes(files))
			notKept.push({ index: record.index, recordId: record.recordId, ...note });
		piece.push({
			recordId: t.record.recordId,
			customId,
			batchId: pendingId,
			promptHash: t.record.promptHash,
			request,
			item,
			itemIndex: t.record.index,
			round: t.round,
			emitted: false,
			submittedAt: at,
			...(files ? { files } : {}),
		});
		size += item.length + request.length + keptBytes(files);
		if (size >= PIECE_BYTES) {
			await flush();
			await nextTurn();
		}
	}
	if (piece.length > 0) await flush();
	return notKept;
}

/**
 * Whether the provider answered the create with a refusal (an HTTP status: 429, 4xx, 5xx,
 * on the upload or the create): it created nothing. Without an answer (timeout, dropped
 * connection) nobody knows; the intent stays for the next run to settle by its nonce.
 */
export function createRefused(e: unknown): boolean {
	return e instanceof LlmBatchError && e.status !== undefined;
}

/** A record to send, shaped as grouping.ts packs it. */
interface Todo {
	record: PreparedRecord;
	round: number;
	recordId: string;
	promptHash: string;
	request: ChatRequest;
	/** Its last submission was in a grouped request that failed it: sent alone this time. */
	alone?: boolean;
}

const todoOf = (record: PreparedRecord, round: number, alone = false): Todo => ({
	record,
	round,
	recordId: record.recordId,
	promptHash: record.promptHash,
	request: record.request,
	...(alone ? { alone } : {}),
});

/** Sorts the records into those to send (with their round) and those skipped, with why. */
async function select(
	ctx: JobContext,
	records: readonly PreparedRecord[],
	maxSubmissions: number,
): Promise<{ todo: Todo[]; skipped: SubmitResult['skipped']; notReused: NotReused }> {
	const skipped: SubmitResult['skipped'] = [];
	const notReused: NotReused = { otherScope: 0, beforeScope: 0 };
	const fresh: PreparedRecord[] = [];
	const seen = new Set<string>();
	for (const r of records) {
		if (seen.has(r.recordId))
			skipped.push({ index: r.index, recordId: r.recordId, reason: 'duplicate' });
		else {
			seen.add(r.recordId);
			fresh.push(r);
		}
	}
	const ids = fresh.map((r) => r.recordId);
	const [known, entries] = await Promise.all([
		ctx.store.getMany(ctx.job, ids),
		ctx.batches.entries(ctx.job, ids),
	]);
	const todo: Todo[] = [];
	for (const r of fresh) {
		const rec = known.get(r.recordId);
		const entry = entries.get(r.recordId);
		const skip = (reason: SkipReason, extra: { batchId?: string; code?: string } = {}) =>
			skipped.push({ index: r.index, recordId: r.recordId, reason, ...extra });
		// Whether the stored outcome is of this very call (core/identity.ts): same prompts and
		// settings, same endpoint and credential.
		const verdict = rec ? storedAnswerVerdict(rec.promptHash, r.promptHash) : undefined;
		if (rec?.status === 'succeeded' && verdict === 'reuse') skip('succeeded');
		else if (entry && !entry.emitted)
			skip(entry.batchId.startsWith('pending:') ? 'awaiting_create' : 'in_batch', {
				batchId: entry.batchId,
			});
		else if (rec?.status === 'failed' && rec.lastError && verdict === 'reuse') {
			const submissions = submissionsOf(entry);
			const grouped = entry !== undefined && isMemberCustomId(entry.customId);
			const refusal = resendRefusal(rec.lastError, submissions, maxSubmissions, grouped);
			// A record its grouped answer failed is sent again alone, as LLM Batch Call does.
			const alone = grouped && sendAlone(rec.lastError);
			if (refusal) skip(refusal, { code: rec.lastError.code });
			else todo.push(todoOf(r, submissions + 1, alone));
		} else {
			if (rec?.status === 'succeeded' && verdict) countNotReused(notReused, verdict);
			todo.push(todoOf(r, r.round ?? submissionsOf(entry) + 1));
		}
	}
	return { todo, skipped, notReused };
}

/**
 * Submits the records that are neither done (succeeded with the same prompt) nor in a batch
 * whose results were not collected yet — a failed one only when resend.ts allows it — split
 * at the caps. Each batch is recorded in the ledger as soon as the provider accepted it, so a
 * crash after that never resubmits it.
 */
export function submitRecords(
	ctx: JobContext,
	records: readonly PreparedRecord[],
	o: SubmitOptions,
): Promise<SubmitResult> {
	// Submitting finishes no record yet: the beat says how many the job was given, and by whom.
	return withJobHeartbeat(ctx, emptyTally(records.length), () => submitAll(ctx, records, o));
}

async function submitAll(
	ctx: JobContext,
	records: readonly PreparedRecord[],
	o: SubmitOptions,
): Promise<SubmitResult> {
	await ctx.store.init();
	await resolvePending(ctx, o.model);
	const { todo, skipped, notReused } = await select(
		ctx,
		records,
		o.maxSubmissions ?? DEFAULT_MAX_SUBMISSIONS,
	);
	const units = planUnits(todo, o.grouping);
	const lines = unitLines(ctx.api, o.grouping);
	const sizes = await lineSizes(units, lines);
	const created: SubmitResult['created'] = [];
	const filesNotKept: SubmitResult['filesNotKept'] = [];
	for (const [start, end] of splitIntoBatches(sizes, o.caps, o.batchSize ?? 0)) {
		const part = await submitPart(ctx, units.slice(start, end), sizes.slice(start, end), {
			model: o.model,
			lines,
			keepFiles: o.keepFiles ?? true,
		});
		skipped.push(...part.skipped);
		filesNotKept.push(...part.filesNotKept);
		if (part.created) created.push(part.created);
	}
	return { created, skipped, notReused, filesNotKept };
}

/**
 * One batch: claimed (what another execution holds is skipped), the intent written with its
 * nonce, the batch created, then recorded. A refused create frees the records at once.
 */
async function submitPart(
	ctx: JobContext,
	part: ReadonlyArray<Unit<Todo>>,
	sizes: readonly number[],
	{
		model,
		lines,
		keepFiles,
	}: { model: string; lines: ReturnType<typeof unitLines>; keepFiles: boolean },
): Promise<{
	created?: SubmitResult['created'][number];
	skipped: SubmitResult['skipped'];
	filesNotKept: SubmitResult['filesNotKept'];
}> {
	const { store, batches, job } = ctx;
	const nonce = newSubmissionNonce();
	const { units, bytes, skipped } = await claimPart(ctx, part, sizes, nonce, lines);
	const claimed = units.flat();
	if (claimed.length === 0) return { skipped, filesNotKept: [] };

	// The intent first, with the nonce every custom_id carries: a batch the provider accepted
	// but the ledger never heard of is found by it, and nothing else can match it.
	const pendingId = pendingBatchId(nonce, claimOwner());
	const release = async () => {
		await batches.abandonPending(job, pendingId);
		await releaseSubmission(store, job, nonce);
	};
	// Nothing was sent if the intent could not be written: the records are freed (if the ledger lets us).
	const filesNotKept = await writeIntent(ctx, pendingId, nonce, units, {
		customIds: lines.entryCustomIds,
		keepFiles,
	}).catch(async (e: unknown) => {
		await release().catch(() => undefined);
		return Promise.reject(e);
	});
	const status = await createBatch(ctx, { nonce, units, bytes, lines, model, release });
	const round = claimed.reduce((m, t) => Math.max(m, t.round), 1);
	await batches.adoptPending(
		job,
		pendingId,
		batchRowFor(ctx, status, {
			model,
			requestCount: claimed.length,
			round,
			at: iso(ctx.clock.now()),
		}),
	);
	return {
		created: {
			...status,
			requestCount: claimed.length,
			lines: units.length,
			round,
			indexes: claimed.map((t) => t.record.index),
		},
		skipped,
		filesNotKept,
	};
}

/**
 * Claims the part's records under `nonce`: the units made of what this execution took (a
 * grouped request another execution took records of is made again from the rest), their
 * size, and what was skipped and why.
 */
async function claimPart(
	ctx: JobContext,
	part: ReadonlyArray<Unit<Todo>>,
	sizes: readonly number[],
	nonce: string,
	lines: ReturnType<typeof unitLines>,
): Promise<{ units: Array<Unit<Todo>>; bytes: number; skipped: SubmitResult['skipped'] }> {
	const states = await claimForSubmission(
		ctx.store,
		ctx.job,
		part.flatMap((u) =>
			u.map((t) => ({ recordId: t.record.recordId, promptHash: t.record.promptHash })),
		),
		nonce,
		ctx.clock.now(),
	);
	const skipped: SubmitResult['skipped'] = [];
	const units: Array<Unit<Todo>> = [];
	let bytes = 0;
	part.forEach((unit, i) => {
		const mine = unit.filter((t) => {
			const state = states.get(t.record.recordId);
			if (state?.status === 'claimed') return true;
			skipped.push({
				index: t.record.index,
				recordId: t.record.recordId,
				reason: state?.status === 'done' ? 'succeeded' : 'in_batch',
			});
			return false;
		});
		if (mine.length === 0) return;
		bytes += mine.length === unit.length ? sizes[i] : lines.size(mine, nonce, i);
		units.push(mine);
	});
	return { units, bytes, skipped };
}

/**
 * Uploads the lines and creates the batch. A create the provider refused is looked for by its
 * nonce where the provider lists batches by it (OpenAI: a 5xx may come once the file was up);
 * otherwise the records are released and the refusal stands.
 */
async function createBatch(
	ctx: JobContext,
	b: {
		nonce: string;
		units: ReadonlyArray<Unit<Todo>>;
		bytes: number;
		lines: ReturnType<typeof unitLines>;
		model: string;
		release: () => Promise<void>;
	},
): Promise<BatchStatus> {
	const submittedAt = ctx.clock.now();
	return ctx.api
		.create(linesOf(b.nonce, b.units, b.bytes, b.lines), {
			job: ctx.job.slice(0, 512),
			records: String(b.units.reduce((n, u) => n + u.length, 0)),
			submission: b.nonce,
			// Gemini names the model in the create's path, not in each request.
			model: b.model,
		})
		.catch(async (e: unknown) => {
			if (!createRefused(e)) return Promise.reject(e);
			const found = await ctx.api
				.findSubmission(b.nonce, {
					after: adoptionWindow(submittedAt).from,
					count: b.units.length,
				})
				.catch(() => undefined);
			if (found?.byKey && found.batches.length > 0) return found.batches[0];
			await b.release();
			return Promise.reject(e);
		});
}

/** A stored entry's request and item, whole again. */
function stored(entry: BatchEntry): { request: ChatRequest; item: Record<string, unknown> } {
	const item = JSON.parse(entry.item) as Record<string, unknown>;
	return { item, request: unpackRequest(entry.request, item) };
}

/**
 * The job's records whose last outcome was a failure resend.ts allows sending again
 * (retryable, fewer than `maxRounds` submissions), as records to submit again.
 */
export async function resubmittable(
	ctx: JobContext,
	o: { maxRounds: number },
): Promise<{
	records: PreparedRecord[];
	overLimit: number;
	notRetryable: number;
	/** Records sent with files the ledger did not keep (Keep Files for Collect off): Submit sends them again. */
	needFiles: number;
}> {
	const out: PreparedRecord[] = [];
	let overLimit = 0;
	let notRetryable = 0;
	let needFiles = 0;
	let after = '';
	for (;;) {
		const page = await ctx.batches.listEntries(ctx.job, after, 1000);
		if (page.length === 0) break;
		after = page[page.length - 1].recordId;
		const emitted = page.filter((e) => e.emitted);
		const ids = emitted.map((e) => e.recordId);
		const [records, files] = await Promise.all([
			ctx.store.getMany(ctx.job, ids),
			ctx.batches.recordFiles(ctx.job, ids),
		]);
		for (const entry of emitted) {
			const rec = records.get(entry.recordId);
			if (rec?.status !== 'failed' || !rec.lastError) continue;
			const submissions = submissionsOf(entry);
			const refusal = resendRefusal(
				rec.lastError,
				submissions,
				o.maxRounds,
				isMemberCustomId(entry.customId),
			);
			if (refusal === 'not_retryable') notRetryable++;
			else if (refusal === 'over_limit') overLimit++;
			else {
				const record = stored(entry);
				// Its documents are read from the ledger again, as they were sent.
				const request = withKeptAttachments(ctx, record.request, files.get(entry.recordId));
				if (!request) {
					needFiles++;
					continue;
				}
				out.push({
					index: entry.itemIndex,
					recordId: entry.recordId,
					promptHash: entry.promptHash,
					item: record.item,
					request,
					round: submissions + 1,
				});
			}
		}
	}
	return { records: out, overLimit, notRetryable, needFiles };
}
