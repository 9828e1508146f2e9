/**
 * Adoption after a crash against the sandbox's Anthropic message batches (no metadata), on a
 * fake clock: a Submit died after the provider accepted its batch, and other workflows of the
 * same workspace created batches of the same size, of the same record IDs, in the same
 * minutes. The strangers' batches are never adopted; ours is, once it has ended and its
 * custom_ids carry the submission's nonce, and its results are collected once.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';

import {
	PROVIDER_CAPS,
	collectJob,
	createBatchApi,
	customIdFor,
	jobStatus,
	newSubmissionNonce,
	submitRecords,
	type JobContext,
	type PreparedRecord,
} from '../../../core/batch-api';
import { inputPolicy, isItemError } from '../../../core/call/input';
import { createCheckpoint, openStore } from '../../../core/ledger';
import { batchStoreFor, pendingBatchId } from '../../../core/ledger/batches';
import { claimForSubmission, claimOwner } from '../../../core/ledger/claims';
import { startSandbox, type Sandbox } from '../../../sandbox/server';

const MODEL = 'claude-3-5-haiku-latest';
const N = 40;
let sandbox: Sandbox;
let t = 1_700_000_000_000;
const clock = { now: () => t };
const notes: string[] = [];

beforeAll(async () => {
	sandbox = await startSandbox({ now: () => t, batch: { processingMs: 100_000 } });
});
afterAll(async () => sandbox.close());

function records(prefix: string, prompt = prefix): PreparedRecord[] {
	const policy = inputPolicy({
		provider: 'anthropic',
		scope: 'test-scope',
		model: MODEL,
		maxTokens: 50,
		contextWindow: 0,
	});
	return Array.from({ length: N }, (_, i) => {
		const r = policy(i, {
			prompt: `${prompt} ticket ${i}`,
			system: undefined,
			recordId: `${prefix}-${i}`,
		});
		if (isItemError(r)) throw new Error(r.message);
		return {
			index: i,
			recordId: r.recordId,
			promptHash: r.promptHash,
			request: r.request,
			item: { id: r.recordId },
		};
	});
}

function context(job: string): JobContext {
	const store = openStore({
		kind: 'sqlite',
		path: join(mkdtempSync(join(tmpdir(), 'llm-batch-orphan-')), 'ledger.sqlite'),
	});
	return {
		api: createBatchApi('anthropic', { apiKey: 'sk-test', baseUrl: sandbox.url }),
		store,
		batches: batchStoreFor(store),
		job,
		clock,
		log: (m) => notes.push(m),
	};
}

/** What a Submit that died right after the provider's accept leaves: the claim, the intent, and the batch at the provider. */
async function crashedSubmit(ctx: JobContext, recs: PreparedRecord[], create: boolean) {
	const [host, pid] = claimOwner().split('|');
	const nonce = newSubmissionNonce();
	// This host, this pid, another process ID: ownerIsDead says the process is gone.
	const pendingId = pendingBatchId(nonce, [host, pid, 'gone', 'x'].join('|'));
	await claimForSubmission(
		ctx.store,
		ctx.job,
		recs.map((r) => ({ recordId: r.recordId, promptHash: r.promptHash })),
		nonce,
		t,
	);
	await ctx.batches.addPending(
		ctx.job,
		pendingId,
		recs.map((r) => ({
			recordId: r.recordId,
			customId: customIdFor(nonce, r.recordId),
			batchId: pendingId,
			promptHash: r.promptHash,
			request: JSON.stringify(r.request),
			item: JSON.stringify(r.item),
			itemIndex: r.index,
			round: 1,
			emitted: false,
			submittedAt: new Date(t).toISOString(),
		})),
	);
	if (create) return (await batchOf(ctx, recs, (id) => customIdFor(nonce, id))).id;
	return undefined;
}

/**
 * A batch created on the same workspace outside our ledger: another workflow's, with the same
 * record IDs (as custom_ids of its own), or ours before the crash (`customId` with our nonce).
 */
async function batchOf(
	ctx: JobContext,
	recs: PreparedRecord[],
	customId: (recordId: string) => string = (id) => id,
) {
	return await ctx.api.create(
		recs.map((r) => ctx.api.requestLine(customId(r.recordId), r.request)),
		{},
	);
}

function collectOptions(ctx: JobContext) {
	return {
		policy: { costOf: () => 0, now: () => t },
		checkpoint: createCheckpoint(ctx.store, ctx.job, { clock }),
	};
}

it("same-sized strangers of the same record IDs before and after ours: none adopted while they run; once ended, ours is (its custom_ids carry the nonce) and collected once; the strangers' never", async () => {
	const ctx = context('orphan-1');
	await ctx.store.init();
	const ours = records('OUR');
	t += 1000;
	const before = await batchOf(ctx, records('OUR', 'stranger A'));
	t += 1000;
	const oursId = await crashedSubmit(ctx, ours, true);
	t += 1000;
	const after = await batchOf(ctx, records('OUR', 'stranger B'), (id) =>
		customIdFor(newSubmissionNonce(), id),
	);

	const status = await jobStatus(ctx);
	expect(status.batches).toEqual([]);
	expect(await ctx.batches.pending(ctx.job)).toHaveLength(1);
	// A rerun of Submit resubmits nothing: the records are held by the unresolved intent.
	const again = await submitRecords(ctx, ours, { caps: PROVIDER_CAPS.anthropic, model: MODEL });
	expect(again.created).toEqual([]);
	expect(new Set(again.skipped.map((s) => s.reason))).toEqual(new Set(['awaiting_create']));

	t += 200_000;
	const got = await collectJob(ctx, collectOptions(ctx));
	expect(
		got.outcomes
			.filter((o) => o.ok)
			.map((o) => o.entry.recordId)
			.sort(),
	).toEqual(ours.map((r) => r.recordId).sort());
	expect(got.outcomes.every((o) => o.ok && o.result.batchId === oursId)).toBe(true);
	for (const o of got.outcomes)
		if (o.ok) expect(o.result.text).toContain(`OUR ticket ${o.entry.itemIndex}`.slice(0, 20));
	expect(got.unmatched).toBe(0);
	const rows = (await ctx.batches.batches(ctx.job)).map((b) => b.batchId);
	expect(rows).toEqual([oursId]);
	expect(rows).not.toContain(before.id);
	expect(rows).not.toContain(after.id);
	expect((await collectJob(ctx, collectOptions(ctx))).outcomes).toEqual([]);
	await ctx.store.close();
});

it("only a stranger's same-sized batch of the same record IDs in the window: never adopted; once it has ended and proved foreign the intent is abandoned, its records freed, submitted again and collected once", async () => {
	const ctx = context('orphan-2');
	await ctx.store.init();
	const ours = records('MINE');
	t += 1000;
	await crashedSubmit(ctx, ours, false);
	t += 1000;
	await batchOf(ctx, records('MINE', 'other prompts'));

	await jobStatus(ctx);
	expect(await ctx.batches.batches(ctx.job)).toEqual([]);
	expect(await ctx.batches.provisional(ctx.job)).toEqual([]);
	t += 200_000;
	notes.length = 0;
	const first = await collectJob(ctx, collectOptions(ctx));
	expect(first.outcomes).toEqual([]);
	expect(first.collected).toEqual([]);
	expect(await ctx.batches.batches(ctx.job)).toEqual([]);
	expect(await ctx.batches.pending(ctx.job)).toEqual([]);

	const sub = await submitRecords(ctx, ours, { caps: PROVIDER_CAPS.anthropic, model: MODEL });
	expect(sub.created.map((b) => b.requestCount)).toEqual([N]);
	t += 200_000;
	const got = await collectJob(ctx, collectOptions(ctx));
	expect(got.outcomes.filter((o) => o.ok)).toHaveLength(N);
	expect(new Set(got.outcomes.map((o) => o.entry.recordId)).size).toBe(N);
	await ctx.store.close();
});

it('a batch another job of the same ledger owns is never adopted, even when it is the only one of the size', async () => {
	const ctx = context('orphan-3');
	await ctx.store.init();
	const otherJob: JobContext = { ...ctx, job: 'other-job' };
	t += 1000;
	const ours = records('X');
	await crashedSubmit(ctx, ours, false);
	t += 1000;
	const other = await submitRecords(otherJob, records('Y'), {
		caps: PROVIDER_CAPS.anthropic,
		model: MODEL,
	});
	expect(other.created).toHaveLength(1);
	await jobStatus(ctx);
	expect(await ctx.batches.batches(ctx.job)).toEqual([]);
	expect(await ctx.batches.pending(ctx.job)).toEqual([]);
	// Abandoned: the provider has no batch of its own for it, so the records are free again.
	const sub = await submitRecords(ctx, ours, { caps: PROVIDER_CAPS.anthropic, model: MODEL });
	expect(sub.created.map((b) => b.requestCount)).toEqual([N]);
	await ctx.store.close();
});
