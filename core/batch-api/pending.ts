/**
 * Submissions recorded as intents but never as batches: the process died between the
 * provider's accept and the ledger write, or the create's answer never came. Each is settled
 * against what the provider has — adopted when a batch provably is its own (adoption.ts),
 * abandoned (its records freed) when the provider has none — before anything else of the job
 * runs. Also settles the provisional adoptions older versions made by size and time.
 */
import type { ChatRequest } from '../call/providers/types';
import { parsePendingId, type BatchRow } from './store/batches';
import { ownerIsDead, releaseSubmission } from '../ledger/claims';
import { adoptionWindow, nextAdoptionStep, verdictOf, type Verdict } from './adoption';
import { entryIdsOf } from './collect-group';
import { carriesNonce, isSubmissionNonce } from './custom-id';
import type { JobContext } from './job-context';
import type { BatchStatus } from './types';

/** Result lines read at a time when a batch's custom_ids are checked. */
const VERDICT_CHUNK = 200;

const iso = (ms: number) => new Date(ms).toISOString();

export function batchRowFor(
	ctx: JobContext,
	status: BatchStatus,
	o: { model: string; requestCount: number; round: number; at: string },
): BatchRow {
	return {
		job: ctx.job,
		batchId: status.id,
		provider: ctx.api.provider,
		model: o.model,
		state: status.state,
		providerStatus: status.providerStatus,
		requestCount: o.requestCount,
		counts: status.counts,
		round: o.round,
		createdAt: status.createdAt,
		expiresAt: status.expiresAt ?? null,
		endedAt: status.endedAt ?? null,
		collectedAt: null,
		updatedAt: o.at,
	};
}

/**
 * Whether an ended candidate is the submission `nonce`'s: its first page of result lines
 * must all carry the nonce. No line is published here.
 */
async function nonceVerdict(
	ctx: JobContext,
	batchId: string,
	nonce: string,
	model: string,
): Promise<Verdict> {
	let lines = 0;
	let matched = 0;
	for await (const page of ctx.api.results(batchId, model)) {
		for (const line of page) {
			lines++;
			if (carriesNonce(line.customId, nonce)) matched++;
		}
		if (lines > 0) break;
	}
	return verdictOf({ lines, matched });
}

/**
 * A batch an older version adopted provisionally (by size and time): read to the first line
 * whose custom_id is not one of its records; confirmed when none is, else un-adopted (its
 * records free to be submitted again).
 */
export async function settleProvisional(ctx: JobContext, row: BatchRow): Promise<Verdict> {
	let lines = 0;
	let matched = 0;
	let chunk: string[] = [];
	const check = async () => {
		const found = await ctx.batches.entriesByCustomId(ctx.job, row.batchId, chunk);
		lines += chunk.length;
		for (const id of chunk) if (found.has(id)) matched++;
		chunk = [];
		return matched === lines;
	};
	let foreign = false;
	read: for await (const page of ctx.api.results(row.batchId, row.model)) {
		for (const line of page) {
			// A grouped request's line stands for its records: its first one is looked up.
			chunk.push(entryIdsOf(line.customId)[0]);
			if (chunk.length >= VERDICT_CHUNK && !(await check())) {
				foreign = true;
				break read;
			}
		}
	}
	if (!foreign && chunk.length > 0) await check();
	const verdict = foreign ? 'foreign' : verdictOf({ lines, matched });
	if (verdict === 'ours') {
		await ctx.batches.confirmAdoption(ctx.job, row.batchId);
		ctx.log?.(
			`Job ${ctx.job}: adopted batch ${row.batchId} confirmed (its custom_ids are the job's records)`,
		);
	} else {
		await ctx.batches.unadopt(ctx.job, row.batchId);
		ctx.log?.(
			`Job ${ctx.job}: batch ${row.batchId} was adopted after a crash but its results are not this job's records (another workflow's batch of the same size): un-adopted; its ${row.requestCount} record(s) will be submitted again`,
		);
	}
	return verdict;
}

/**
 * Settles the job's intents as adoption.ts decides: the batch the provider has for one is
 * adopted (its records are not submitted again) — exactly by nonce (OpenAI metadata), or the
 * ended candidate whose custom_ids carry the nonce (Anthropic); an intent the provider has no
 * batch for is abandoned and its records' claims end. Older provisional adoptions that have
 * ended are settled too.
 */
export async function resolvePending(ctx: JobContext, model?: string): Promise<void> {
	for (const batchId of await ctx.batches.provisional(ctx.job)) {
		const [row] = (await ctx.batches.batches(ctx.job)).filter((b) => b.batchId === batchId);
		if (!row || row.collectedAt !== null) continue;
		const status = await ctx.api.retrieve(batchId);
		if (status.state === 'ended') await settleProvisional(ctx, row);
	}
	for (const p of await ctx.batches.pending(ctx.job)) await resolveIntent(ctx, p, model);
}

async function resolveIntent(
	ctx: JobContext,
	p: { pendingId: string; count: number; requests: number; submittedAt: string },
	model?: string,
): Promise<void> {
	const parsed = parsePendingId(p.pendingId);
	if (!parsed) return;
	const nonce = parsed.key;
	const writtenAt = Date.parse(p.submittedAt);
	// The provider counts request lines (a grouped request's records count once).
	const found = await ctx.api.findSubmission(nonce, {
		after: adoptionWindow(writtenAt).from,
		count: p.requests,
	});
	const owned = await ctx.batches.ownedBatchIds(found.batches.map((b) => b.id));
	const [entry] = await ctx.batches.unemittedEntries(ctx.job, p.pendingId, 1);
	const request = entry ? (JSON.parse(entry.request) as ChatRequest) : undefined;
	const requestModel = request?.model ?? model ?? '';
	const verdicts = new Map<string, Verdict>();
	const ownerGone = ownerIsDead(parsed.owner);
	for (;;) {
		const step = nextAdoptionStep({
			writtenAt,
			count: p.requests,
			ownerGone,
			found,
			owned,
			verdicts,
			now: ctx.clock.now(),
		});
		if (step.kind === 'verify') {
			for (const b of step.batches)
				verdicts.set(
					b.id,
					// An intent of an older version carries no nonce in its custom_ids: nothing proves a batch its own.
					isSubmissionNonce(nonce) ? await nonceVerdict(ctx, b.id, nonce, requestModel) : 'foreign',
				);
			continue;
		}
		if (step.kind === 'adopt') {
			await ctx.batches.adoptPending(
				ctx.job,
				p.pendingId,
				batchRowFor(ctx, step.batch, {
					model: requestModel,
					requestCount: p.count,
					round: entry?.round ?? 1,
					at: iso(ctx.clock.now()),
				}),
			);
			ctx.log?.(
				`Job ${ctx.job}: adopted batch ${step.batch.id} for ${p.count} record(s) of a submission whose create was not recorded (it carries the submission's nonce)`,
			);
		} else if (step.kind === 'abandon') {
			await ctx.batches.abandonPending(ctx.job, p.pendingId);
			await releaseSubmission(ctx.store, ctx.job, nonce);
		} else if (verdicts.size > 0 || found.batches.length > 0) {
			ctx.log?.(
				`Job ${ctx.job}: ${p.count} record(s) of an unrecorded submission wait: ${step.reason}`,
			);
		}
		return;
	}
}
