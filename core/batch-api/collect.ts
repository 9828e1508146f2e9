/**
 * Collect of LLM Batch Job: reads each ended, uncollected batch's results, joins them to their
 * records by custom_id a bounded chunk at a time, decides each record once (what two lines for
 * one record come to: see `mergeLines`) and commits through the same group commits as LLM
 * Batch Call. Publishing is claimed (publish-lease.ts): two Collects at once emit each record
 * once between them, and a Collect killed before handing its items on has published nothing.
 */
import { classifyError } from '../call/classify';
import { LlmBatchError } from '../call/errors';
import { interpretAnswer, type AnswerPolicy } from '../call/interpret';
import type { AnswerEntry, BatchEntry, BatchRow } from './store/batches';
import type { Checkpoint } from '../ledger/types';
import { compileSchema } from '../schema';
import { emptyTally, tallyOutcome, withJobHeartbeat } from '../status/job-heartbeat';
import type { ItemError, LlmResult, ProviderName, Usage } from '../types';
import { emptyGroupStats, type GroupStats } from '../call/group-stats';
import { entryIdsOf, groupedPrompts, judgeGroupLine, type Judged } from './collect-group';
import { groupSizeOf } from './custom-id';
import { assertJobKnown } from './job-check';
import { COLLECT_CHUNK, liveRows, refresh, settleProvisional, type JobContext } from './context';
import { giveFilesBack, type FilesSink } from './files';
import { PublishLease } from './publish-lease';
import { notDoneError } from './results';
import { cancelAtDeadline } from './status';
import type { BatchResultLine, BatchStatus } from './types';

/** The entry a record leaves Collect with (its request is not read back). */
export type CollectedEntry = Omit<BatchEntry, 'request'>;

export type CollectOutcome =
	| { entry: CollectedEntry; ok: true; result: LlmResult & { batchId: string } }
	| { entry: CollectedEntry; ok: false; error: ItemError & { batchId?: string } };

export interface CollectResult {
	/** Every record emitted, unless `onOutcome` took them one by one (then empty). */
	outcomes: CollectOutcome[];
	/** Batches read to the end in this run. */
	collected: string[];
	/** Batches still running (not past the deadline), or still being cancelled at the deadline. */
	pending: string[];
	/** Batches another Collect of the job is publishing right now (it emits their records). */
	busy: string[];
	/** Result lines that matched no record of their batch (ignored). */
	unmatched: number;
	/** Of those, lines that could not be read at all (not JSON, no custom_id). */
	unreadable: number;
	/** Records with two different answers in their batch's results (Failed `duplicate`). */
	conflicts: number;
	/** Answers to records that had already left Collect (late results), kept in the ledger only. */
	late: number;
	/** Batches adopted after a crash whose results proved another's: dropped, their records free again. */
	unadopted: string[];
	/** Grouped requests read (Records per Request) and what became of their records. */
	grouped: GroupStats;
}

/** What the lines of one record said so far. */
interface Decided {
	entry: AnswerEntry;
	judged: Judged;
}

function addUsage(a: Usage, b: Usage): Usage {
	const out: Usage = { ...a };
	for (const k of Object.keys(b) as Array<keyof Usage>)
		if (k !== 'serviceTier') out[k] = (a[k] ?? 0) + (b[k] ?? 0);
	return out;
}

/**
 * Two result lines for one record. A success wins over an error line (a paid answer is never
 * thrown away, nor bought again by a resubmission); the same answer twice is that answer; two
 * different answers cannot both be the prompt's and nothing tells which is: the record fails
 * `duplicate` (retryable: a fresh call settles it), with both paid answers' usage and cost and
 * the first answer kept in the error — never the first line winning silently.
 */
export function mergeLines(a: Judged, b: Judged, provider: ProviderName): Decided['judged'] {
	if (!a.ok) return b.ok ? b : a;
	if (!b.ok || a.result.text === b.result.text) return a;
	const usage = addUsage(a.result.usage, b.result.usage);
	const cost =
		a.result.costUsd === undefined || b.result.costUsd === undefined
			? undefined
			: a.result.costUsd + b.result.costUsd;
	const error: ItemError = {
		code: 'duplicate',
		message:
			'The batch results hold two different answers for this record (duplicate custom_id lines): which one answers its prompt cannot be told, so neither is published. Both were paid; the first is in error.answer. Send it through LLM Batch Call (or Resubmit) for an answer of its own.',
		retryable: true,
		attempts: a.result.attempts,
		provider,
		answer: a.result.text,
		usage,
		...(cost === undefined ? {} : { costUsd: cost }),
	};
	return { ok: false, error, conflict: true };
}

/**
 * What a record the batch returned no line for gets: canceled when the batch was canceled
 * (OpenAI `cancelled`; Anthropic counts more canceled than expired requests), else expired;
 * expired when a deadline cut the batch. Both are retryable. A batch the provider refused as
 * a whole is classified by the realtime taxonomy (core/call/errors.ts): an enqueued-token
 * limit is a capacity wait, a bad input file a rejected request.
 */
function noLineError(
	s: BatchStatus,
	provider: ProviderName,
	o: { deadline: boolean; unreadable: number },
): ItemError {
	if (s.failure) {
		const err = classifyError(
			{ status: 400, code: s.failureCode, message: s.failure },
			provider,
			0,
		);
		return {
			...err.toItemError(1),
			message: err.retryable
				? `${err.message} (the provider refused the batch: ${s.failure})`
				: `The provider rejected the batch: ${s.failure}`,
		};
	}
	const unreadable =
		o.unreadable > 0
			? `; ${o.unreadable} line(s) of the results could not be read, this record's may be one of them`
			: '';
	if (o.deadline)
		return notDoneError('expired', provider, `not finished by the deadline${unreadable}`);
	const code =
		s.providerStatus.startsWith('cancel') || s.counts.canceled > s.counts.expired
			? 'canceled'
			: 'expired';
	return notDoneError(code, provider, `batch ${s.providerStatus}, no result line${unreadable}`);
}

/** The options of `collectJob`. */
export type CollectOptions = {
	/** How answers are read; structured output follows each request's own schema. */
	policy: Omit<AnswerPolicy, 'structured' | 'provider'>;
	checkpoint: Checkpoint;
	batchIds?: readonly string[];
	deadline?: number;
	reEmit?: boolean;
	/**
	 * Takes each outcome as it is decided (the node turns it into its output item at once);
	 * when given, `outcomes` stays empty, so nothing is held twice.
	 */
	onOutcome?: (outcome: CollectOutcome) => void;
	/**
	 * Gives the emitted records their kept files (files.ts) before the Collect hands its items
	 * on: reading them fails the Collect as a whole, which then has published nothing.
	 */
	files?: FilesSink;
};

/**
 * Reads the results of every ended, uncollected batch of the job and emits each of its records
 * once, on Success or Failed. Each batch is published under its collect lease: a batch another
 * live Collect holds is left to it (`busy`). Past the deadline a running batch is cancelled and
 * collected once the cancel has ended: what it finished before comes out as Success, the rest
 * as `expired`. A job the ledger does not know, or one submitted to another provider, is a
 * JobConfigError before any call.
 * The job's heartbeat beats with the records it emits (Job Status).
 */
export async function collectJob(ctx: JobContext, o: CollectOptions): Promise<CollectResult> {
	// A job the ledger does not know gets no heartbeat either.
	await assertJobKnown(ctx);
	const tally = emptyTally();
	const onOutcome = o.onOutcome;
	return withJobHeartbeat(ctx, tally, async () => {
		const res = await collectRecords(ctx, {
			...o,
			onOutcome: onOutcome
				? (outcome) => {
						tallyOutcome(tally, outcome);
						onOutcome(outcome);
					}
				: undefined,
		});
		for (const outcome of res.outcomes) tallyOutcome(tally, outcome);
		return res;
	});
}

/** `collectJob`'s work, under the heartbeat. */
async function collectRecords(ctx: JobContext, o: CollectOptions): Promise<CollectResult> {
	const rows = await liveRows(ctx, o.batchIds);
	const res: CollectResult = {
		outcomes: [],
		collected: [],
		pending: [],
		busy: [],
		unmatched: 0,
		unreadable: 0,
		conflicts: 0,
		late: 0,
		unadopted: [],
		grouped: emptyGroupStats(),
	};
	const emit = o.onOutcome ?? ((outcome: CollectOutcome) => res.outcomes.push(outcome));
	const emittedNow = new Set<string>();
	const lease = new PublishLease(ctx);
	const run = new BatchReader(ctx, o, res, lease, (outcome) => {
		emit(outcome);
		emittedNow.add(outcome.entry.recordId);
	});
	// A Collect that fails publishes nothing: its batches are free at once for the next run.
	let finished = false;
	try {
		for (const row of rows) if (row.collectedAt === null) await run.collect(row);
		await giveFilesBack(ctx, o.files, () => lease.renew());
		await lease.finish(res.collected);
		finished = true;
	} finally {
		if (!finished) await lease.release().catch(() => undefined);
	}
	if (o.reEmit) {
		await reEmit(ctx, emittedNow, emit);
		await giveFilesBack(ctx, o.files, async () => undefined);
	}
	return res;
}

/** One Collect's reading of its batches (what the loop over rows shares). */
class BatchReader {
	private readonly deadlineReached: boolean;
	private readonly provisional: Promise<Set<string>>;
	/** One compiled validator per distinct schema text (ajv compiles are costly; requests repeat it). */
	private readonly validators = new Map<string, AnswerPolicy>();

	constructor(
		private readonly ctx: JobContext,
		private readonly o: Parameters<typeof collectJob>[1],
		private readonly res: CollectResult,
		private readonly lease: PublishLease,
		private readonly emit: (outcome: CollectOutcome) => void,
	) {
		this.deadlineReached = o.deadline !== undefined && ctx.clock.now() >= o.deadline;
		this.provisional = ctx.batches.provisional(ctx.job).then((ids) => new Set(ids));
	}

	async collect(row: BatchRow): Promise<void> {
		const { ctx, res } = this;
		let status = await refresh(ctx, row);
		// Past the deadline: cancelled, then collected once the cancel has ended (a batch still
		// canceling holds answers the provider will bill: failing its records now would pay
		// them twice when they are sent again).
		if (this.deadlineReached) status = await cancelAtDeadline(ctx, status, row);
		const provisional = (await this.provisional).has(row.batchId);
		// A provisional batch is never cancelled (it may be another workflow's): at the deadline
		// its records leave as expired now; answers that arrive later are kept in the ledger.
		const expireNow = this.deadlineReached && provisional && status.state !== 'ended';
		if (status.state !== 'ended' && !expireNow) {
			res.pending.push(row.batchId);
			return;
		}
		if (!(await this.lease.take(row))) {
			res.busy.push(row.batchId);
			return;
		}
		if (expireNow) {
			await this.failRest(row.batchId, () =>
				notDoneError('expired', ctx.api.provider, 'not finished by the deadline'),
			);
			return;
		}
		// Adopted after a crash without proof: its custom_ids decide before anything is published.
		if (provisional && (await settleProvisional(ctx, row)) !== 'ours') {
			this.lease.forget(row.batchId);
			res.unadopted.push(row.batchId);
			return;
		}
		if (status.resultsReady === false) {
			await this.collectWithoutResults(row, status);
			return;
		}
		const unreadableBefore = res.unreadable;
		await this.publish(row, await this.read(row));
		const s = status;
		await this.failRest(row.batchId, () =>
			noLineError(s, ctx.api.provider, {
				deadline: this.deadlineReached,
				unreadable: res.unreadable - unreadableBefore,
			}),
		);
		res.collected.push(row.batchId);
	}

	/** An ended batch whose provider names no results to read (Anthropic: no `results_url`). */
	private async collectWithoutResults(row: BatchRow, status: BatchStatus): Promise<void> {
		const { ctx, res } = this;
		if (status.counts.succeeded + status.counts.errored > 0) {
			// Answered lines exist but the provider does not publish them yet: a later Collect
			// reads them (marking the records now would lose paid answers).
			res.pending.push(row.batchId);
			return;
		}
		// Nothing was answered (all canceled or expired): no results file to read.
		const s = status;
		await this.failRest(row.batchId, () =>
			notDoneError(
				this.deadlineReached
					? 'expired'
					: s.counts.canceled > s.counts.expired
						? 'canceled'
						: 'expired',
				ctx.api.provider,
				`batch ${s.providerStatus} without results (${s.counts.canceled} canceled, ${s.counts.expired} expired)`,
			),
		);
		res.collected.push(row.batchId);
	}

	/** Every line of the batch's results, joined a chunk at a time; one decision per record. */
	private async read(row: BatchRow): Promise<Map<string, Decided>> {
		const { ctx, res } = this;
		const decided = new Map<string, Decided>();
		const decide = (entry: AnswerEntry, judged: Judged) => {
			// A paid answer is durable at once, whatever later lines of the record say.
			if (judged.ok) this.o.checkpoint.succeeded(judged.result);
			const before = decided.get(entry.recordId);
			if (!before) decided.set(entry.recordId, { entry, judged });
			else if (!(before.judged.ok === false && before.judged.conflict)) {
				before.judged = mergeLines(before.judged, judged, ctx.api.provider);
				if (!before.judged.ok && before.judged.conflict) res.conflicts++;
			}
		};
		const handle = async (lines: readonly BatchResultLine[]) => {
			const entries = await ctx.batches.entriesByCustomId(
				ctx.job,
				row.batchId,
				lines.filter((l) => l.customId !== '').flatMap((l) => entryIdsOf(l.customId)),
			);
			const prompts = await groupedPrompts(ctx, lines, entries);
			for (const line of lines) {
				const judged =
					line.customId === '' ? [] : this.judgeLine(line, entries, prompts, row.batchId);
				if (judged.length === 0) {
					res.unmatched++;
					if (line.customId === '') res.unreadable++;
				}
				for (const j of judged) decide(j.entry, j.judged);
			}
			await this.lease.renew();
		};
		let chunk: BatchResultLine[] = [];
		for await (const page of ctx.api.results(row.batchId, row.model)) {
			for (const line of page) {
				chunk.push(line);
				if (chunk.length >= COLLECT_CHUNK) {
					await handle(chunk);
					chunk = [];
				}
			}
		}
		if (chunk.length > 0) await handle(chunk);
		return decided;
	}

	/** The decided records of a batch leave, a chunk at a time, published under the lease. */
	private async publish(row: BatchRow, decided: Map<string, Decided>): Promise<void> {
		const { ctx, res } = this;
		let ids: string[] = [];
		const commit = async () => {
			await this.o.checkpoint.flush();
			await ctx.batches.markPublishing(ctx.job, ids);
			ids = [];
		};
		for (const { entry, judged } of decided.values()) {
			if (entry.emitted) {
				// Already emitted (expired at a deadline): a paid answer is still kept, in the ledger.
				if (judged.ok) res.late++;
				continue;
			}
			if (judged.ok) this.emit({ entry, ok: true, result: judged.result });
			else this.fail(entry, this.expiredAtDeadline(judged.error), row.batchId);
			ids.push(entry.recordId);
			if (ids.length >= COLLECT_CHUNK) await commit();
		}
		await commit();
	}

	/** A line `canceled` by the deadline's cancel leaves as `expired`, as the Deadline says. */
	private expiredAtDeadline(error: ItemError): ItemError {
		if (!this.deadlineReached || error.code !== 'canceled') return error;
		return notDoneError('expired', this.ctx.api.provider, 'not finished by the deadline');
	}

	private fail(entry: CollectedEntry, error: ItemError, batchId: string): void {
		this.o.checkpoint.failed(entry.recordId, entry.promptHash, { ...error, attempts: entry.round });
		this.emit({ entry, ok: false, error: { ...error, attempts: entry.round, batchId } });
	}

	/** Fails every record of the batch not emitted yet, a chunk at a time. */
	private async failRest(batchId: string, errorFor: (entry: BatchEntry) => ItemError) {
		const { ctx } = this;
		for (;;) {
			const page = await ctx.batches.unemittedEntries(ctx.job, batchId, COLLECT_CHUNK);
			if (page.length === 0) return;
			for (const entry of page) this.fail(entry, errorFor(entry), batchId);
			await this.o.checkpoint.flush();
			await ctx.batches.markPublishing(
				ctx.job,
				page.map((e) => e.recordId),
			);
			await this.lease.renew();
		}
	}

	private policyFor(schema: string | null): AnswerPolicy {
		const key = schema ?? '';
		let p = this.validators.get(key);
		if (!p) {
			const compiled = schema
				? compileSchema(JSON.parse(schema) as Record<string, unknown>)
				: undefined;
			p = {
				...this.o.policy,
				provider: this.ctx.api.provider,
				structured: schema ? { validate: compiled?.ok ? compiled.validate : undefined } : undefined,
			};
			this.validators.set(key, p);
		}
		return p;
	}

	/** What a result line says about each record it answers (none: it matched no record). */
	private judgeLine(
		line: BatchResultLine,
		entries: Map<string, AnswerEntry>,
		prompts: Map<string, string>,
		batchId: string,
	): Array<{ entry: AnswerEntry; judged: Judged }> {
		if (groupSizeOf(line.customId) === undefined) {
			const entry = entries.get(line.customId);
			return entry ? [{ entry, judged: this.judge(entry, line, batchId) }] : [];
		}
		const members = entryIdsOf(line.customId).flatMap((id) => entries.get(id) ?? []);
		if (members.length === 0) return [];
		if (!line.ok) {
			this.res.grouped.groups++;
			this.res.grouped.groupsFailed++;
			return members.map((entry) => ({ entry, judged: { ok: false, error: line.error } }));
		}
		const schemaText = members[0].answer.schema;
		return judgeGroupLine(
			{
				line,
				members,
				promptOf: (id) => prompts.get(id) ?? '',
				batchId,
				latencyMs: Math.max(0, this.ctx.clock.now() - Date.parse(members[0].submittedAt)),
			},
			this.policyFor(null),
			{
				schema: schemaText ? (JSON.parse(schemaText) as Record<string, unknown>) : undefined,
				validate: this.policyFor(schemaText).structured?.validate,
			},
			this.res.grouped,
		);
	}

	private judge(entry: AnswerEntry, line: BatchResultLine, batchId: string): Judged {
		if (!line.ok) return { ok: false, error: line.error };
		try {
			const result = interpretAnswer(
				this.policyFor(entry.answer.schema),
				{ recordId: entry.recordId, promptHash: entry.promptHash, request: entry.answer },
				line.response,
				entry.round,
				Math.max(0, this.ctx.clock.now() - Date.parse(entry.submittedAt)),
			) as LlmResult & { batchId: string };
			// The result is this call's own object: tagged in place, not copied.
			result.batchId = batchId;
			return { ok: true, result };
		} catch (e) {
			const err = e instanceof LlmBatchError ? e : new LlmBatchError('malformed_output', String(e));
			return { ok: false, error: err.toItemError(entry.round) };
		}
	}
}

/** Everything the job emitted before, again, from the ledger (no provider call). */
async function reEmit(
	ctx: JobContext,
	skip: ReadonlySet<string>,
	emit: (outcome: CollectOutcome) => void,
): Promise<void> {
	let after = '';
	for (;;) {
		const page = await ctx.batches.listEntries(ctx.job, after, 1000);
		if (page.length === 0) return;
		after = page[page.length - 1].recordId;
		const emitted = page.filter((e) => e.emitted && !skip.has(e.recordId));
		const records = await ctx.store.getMany(
			ctx.job,
			emitted.map((e) => e.recordId),
		);
		for (const entry of emitted) {
			const rec = records.get(entry.recordId);
			if (rec?.status === 'succeeded' && rec.result) {
				emit({
					entry,
					ok: true,
					result: { batchId: entry.batchId, ...rec.result } as LlmResult & { batchId: string },
				});
			} else if (rec?.status === 'failed' && rec.lastError) {
				emit({
					entry,
					ok: false,
					error: { ...rec.lastError, batchId: entry.batchId },
				});
			}
		}
	}
}
