/**
 * The job operations (Submit, Check Status, Collect, Cancel: core/batch-api/submit.ts, status.ts,
 * collect.ts) against the sandbox's batch APIs, both providers, with a SQLite ledger: the
 * sandbox runs on a fake clock, so batches end when the test moves the clock, never by sleeping.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
	COLLECT_CHUNK,
	PROVIDER_CAPS,
	cancelJob,
	collectJob,
	createBatchApi,
	jobStatus,
	resubmittable,
	submitRecords,
	type JobContext,
	type PreparedRecord,
} from '../../../core/batch-api';
import { inputPolicy, isItemError } from '../../../core/call/input';
import { costUsd } from '../../../core/cost';
import { createCheckpoint, openStore } from '../../../core/ledger';
import { batchStoreFor } from '../../../core/batch-api/store/factory';
import type { ProviderName } from '../../../core/types';
import { expectedReply, startSandbox, type Sandbox } from '../../../sandbox/server';

const SCHEMA = {
	type: 'object',
	properties: { category: { type: 'string' }, echo: { type: 'string' } },
	required: ['category', 'echo'],
};

let sandbox: Sandbox;
let t = 1_700_000_000_000;
const clock = { now: () => t };

beforeAll(async () => {
	sandbox = await startSandbox({ now: () => t, batch: { processingMs: 100_000 } });
});
afterAll(async () => {
	await sandbox.close();
});

const MODEL: Record<ProviderName, string> = {
	openai: 'gpt-4o-mini',
	anthropic: 'claude-3-5-haiku-latest',
	gemini: 'gemini-2.5-flash',
};

function records(
	provider: ProviderName,
	n: number,
	prompt = (i: number) => `Ticket ${i}: invoice ${i * 7} wrong`,
) {
	const policy = inputPolicy({
		provider,
		scope: 'test-scope',
		model: MODEL[provider],
		schema: SCHEMA,
		maxTokens: 200,
		contextWindow: 0,
	});
	const out: PreparedRecord[] = [];
	for (let i = 0; i < n; i++) {
		const r = policy(i, { prompt: prompt(i), system: 'Classify.', recordId: `T-${i}` });
		if (isItemError(r)) throw new Error(r.message);
		out.push({
			index: i,
			recordId: r.recordId,
			promptHash: r.promptHash,
			request: r.request,
			item: { id: `T-${i}`, text: prompt(i) },
		});
	}
	return out;
}

function context(provider: ProviderName, job: string): JobContext {
	const dir = mkdtempSync(join(tmpdir(), 'llm-batch-job-'));
	const store = openStore({ kind: 'sqlite', path: join(dir, 'ledger.sqlite') });
	return {
		api: createBatchApi(provider, {
			apiKey: 'sk-test',
			baseUrl: provider === 'openai' ? `${sandbox.url}/v1` : sandbox.url,
		}),
		store,
		batches: batchStoreFor(store),
		job,
		clock,
	};
}

function collectOptions(ctx: JobContext, _provider: ProviderName) {
	return {
		policy: {
			costOf: (model: string, usage: { inputTokens: number; outputTokens: number }) =>
				costUsd(model, usage, { batch: true }),
			now: () => t,
		},
		checkpoint: createCheckpoint(ctx.store, ctx.job, { clock }),
	};
}

describe.each(['openai', 'anthropic', 'gemini'] as const)(
	'batch job against the sandbox: %s',
	(provider) => {
		it('submits split at the cap, collects every record once with its own answer, and a second submit or collect adds nothing', async () => {
			const ctx = context(provider, `job-${provider}-1`);
			await ctx.store.init();
			const recs = records(provider, 250);
			const sub = await submitRecords(ctx, recs, {
				caps: PROVIDER_CAPS[provider],
				batchSize: 100,
				model: MODEL[provider],
			});
			expect(sub.created.map((b) => b.requestCount)).toEqual([100, 100, 50]);
			expect(sub.skipped).toEqual([]);

			const again = await submitRecords(ctx, recs, {
				caps: PROVIDER_CAPS[provider],
				batchSize: 100,
				model: MODEL[provider],
			});
			expect(again.created).toEqual([]);
			expect(again.skipped.map((s) => s.reason)).toEqual(Array(250).fill('in_batch'));

			const early = await jobStatus(ctx);
			expect(early.allEnded).toBe(false);
			expect((await collectJob(ctx, collectOptions(ctx, provider))).outcomes).toEqual([]);

			t += 100_000;
			const status = await jobStatus(ctx);
			expect(status.allEnded).toBe(true);
			expect(status.batches.map((b) => b.state)).toEqual(['ended', 'ended', 'ended']);

			const got = await collectJob(ctx, collectOptions(ctx, provider));
			expect(got.collected).toHaveLength(3);
			expect(got.outcomes).toHaveLength(250);
			const ids = got.outcomes.map((o) => o.entry.recordId).sort();
			expect(new Set(ids).size).toBe(250);
			for (const o of got.outcomes) {
				expect(o.ok).toBe(true);
				if (!o.ok) continue;
				const rec = recs.find((r) => r.recordId === o.entry.recordId)!;
				expect(o.result.output).toEqual(
					expectedReply({ prompt: rec.request.prompt, schema: SCHEMA }).output,
				);
				expect(o.result.costUsd).toBeCloseTo(costUsd(MODEL[provider], o.result.usage)! / 2, 12);
				expect(o.result.batchId).toBe(o.entry.batchId);
			}
			// Results came back in another order than submitted.
			expect(got.outcomes.slice(0, 100).map((o) => o.entry.itemIndex)).not.toEqual([
				...Array(100).keys(),
			]);

			expect((await collectJob(ctx, collectOptions(ctx, provider))).outcomes).toEqual([]);
			const reEmitted = await collectJob(ctx, { ...collectOptions(ctx, provider), reEmit: true });
			expect(reEmitted.outcomes).toHaveLength(250);
			const third = await submitRecords(ctx, recs, {
				caps: PROVIDER_CAPS[provider],
				model: MODEL[provider],
			});
			expect(third.created).toEqual([]);
			expect(third.skipped.every((s) => s.reason === 'succeeded')).toBe(true);
			const stats = await ctx.store.stats(ctx.job);
			expect(stats.succeeded).toBe(250);
		});

		it('an expired batch gives its finished share as Success and the rest as retryable expired; failed lines are classified; resubmit takes only the retryable', async () => {
			sandbox.batch.configure({ processingMs: 100_000, expiresAfterMs: 60_000 });
			const ctx = context(provider, `job-${provider}-2`);
			await ctx.store.init();
			const recs = records(provider, 100, (i) =>
				i === 0
					? 'bad one [[sandbox:status400]]'
					: i === 1
						? 'flaky one [[sandbox:status500]]'
						: `Ticket ${i}`,
			);
			await submitRecords(ctx, recs, { caps: PROVIDER_CAPS[provider], model: MODEL[provider] });
			t += 60_000;
			const got = await collectJob(ctx, collectOptions(ctx, provider));
			sandbox.batch.configure({ expiresAfterMs: 86_400_000 });
			expect(got.outcomes).toHaveLength(100);
			const codes: Record<string, number> = {};
			for (const o of got.outcomes) {
				const k = o.ok ? 'ok' : o.error.code;
				codes[k] = (codes[k] ?? 0) + 1;
			}
			expect(codes.expired).toBe(40);
			expect((codes.ok ?? 0) + (codes.invalid_request ?? 0) + (codes.server_error ?? 0)).toBe(60);
			for (const o of got.outcomes)
				if (!o.ok && o.error.code === 'expired') expect(o.error.retryable).toBe(true);

			const again = await resubmittable(ctx, { maxRounds: 2 });
			const ids = again.records.map((r) => r.recordId);
			// The bad request is not sent again, unless the batch expired before processing it (its
			// place in the batch's shuffled order depends on the batch's ID).
			const bad = got.outcomes.find((o) => o.entry.recordId === 'T-0');
			const badCode = bad && !bad.ok ? bad.error.code : 'ok';
			expect(['invalid_request', 'expired']).toContain(badCode);
			if (badCode === 'invalid_request') expect(ids).not.toContain('T-0');
			else expect(ids).toContain('T-0');
			expect(again.records).toHaveLength(40 + (codes.server_error ?? 0));
			const sub = await submitRecords(ctx, again.records, {
				caps: PROVIDER_CAPS[provider],
				model: MODEL[provider],
			});
			expect(sub.created).toHaveLength(1);
			expect(sub.created[0].round).toBe(2);
		});

		it('a batch larger than a Collect chunk is joined a chunk at a time (never the whole batch from the ledger) and every record leaves once', async () => {
			sandbox.batch.configure({ processingMs: 100_000, expiresAfterMs: 60_000 });
			const ctx = context(provider, `job-${provider}-chunks`);
			await ctx.store.init();
			const n = COLLECT_CHUNK * 3;
			await submitRecords(ctx, records(provider, n), {
				caps: PROVIDER_CAPS[provider],
				model: MODEL[provider],
			});
			t += 60_000;
			const reads: number[] = [];
			const batches = ctx.batches;
			const spied: JobContext = {
				...ctx,
				batches: Object.assign(Object.create(batches) as typeof batches, {
					entriesByCustomId: (job: string, batchId: string, ids: readonly string[]) => {
						reads.push(ids.length);
						return batches.entriesByCustomId(job, batchId, ids);
					},
					unemittedEntries: async (job: string, batchId: string, limit: number) => {
						const page = await batches.unemittedEntries(job, batchId, limit);
						reads.push(page.length);
						return page;
					},
					batchEntries: () => {
						throw new Error('Collect must not read a whole batch at once');
					},
				}),
			};
			const seen: string[] = [];
			const got = await collectJob(spied, {
				...collectOptions(ctx, provider),
				onOutcome: (o) => seen.push(`${o.entry.recordId}:${o.ok ? 'ok' : o.error.code}`),
			});
			sandbox.batch.configure({ expiresAfterMs: 86_400_000 });
			expect(got.outcomes).toEqual([]);
			expect(seen).toHaveLength(n);
			expect(new Set(seen.map((s) => s.split(':')[0])).size).toBe(n);
			expect(seen.filter((s) => s.endsWith(':ok'))).toHaveLength(n * 0.6);
			expect(seen.filter((s) => s.endsWith(':expired'))).toHaveLength(n * 0.4);
			if (provider === 'gemini') {
				// Gemini returns lines only for the requests it processed: the 60 % answered are read
				// by key, the 40 % without a line a page at a time, never more than a chunk at once.
				expect(reads.every((r) => r <= COLLECT_CHUNK)).toBe(true);
				expect(reads.reduce((a, b) => a + b, 0)).toBe(n);
				expect(reads.at(-1)).toBe(0);
			}
			// Expired requests come back as lines too: three chunks of lines, then one empty page of
			// records without a line.
			else expect(reads).toEqual([COLLECT_CHUNK, COLLECT_CHUNK, COLLECT_CHUNK, 0]);
			expect((await ctx.store.stats(ctx.job)).succeeded).toBe(n * 0.6);
		});

		it('cancel keeps what finished; the rest comes back canceled', async () => {
			const ctx = context(provider, `job-${provider}-3`);
			await ctx.store.init();
			await submitRecords(ctx, records(provider, 10), {
				caps: PROVIDER_CAPS[provider],
				model: MODEL[provider],
			});
			t += 50_000;
			const canceled = await cancelJob(ctx);
			expect(canceled).toHaveLength(1);
			const got = await collectJob(ctx, collectOptions(ctx, provider));
			expect(got.outcomes.filter((o) => o.ok)).toHaveLength(5);
			expect(got.outcomes.filter((o) => !o.ok && o.error.code === 'canceled')).toHaveLength(5);
		});

		it('past the deadline, unfinished batches are cancelled; once the cancel has ended what finished is Success and the rest expired', async () => {
			const ctx = context(provider, `job-${provider}-4`);
			await ctx.store.init();
			sandbox.batch.configure({ cancelMs: 10_000 });
			try {
				await submitRecords(ctx, records(provider, 10), {
					caps: PROVIDER_CAPS[provider],
					model: MODEL[provider],
				});
				t += 30_000;
				// While the provider is still cancelling, the job has not ended: its finished answers
				// are paid and will be in the results, so nothing is failed yet.
				const status = await jobStatus(ctx, { deadline: t - 1 });
				expect(status).toMatchObject({ allEnded: false, deadlineReached: true });
				const early = await collectJob(ctx, { ...collectOptions(ctx, provider), deadline: t - 1 });
				expect({ outcomes: early.outcomes, pending: early.pending.length }).toEqual({
					outcomes: [],
					pending: 1,
				});
				t += 10_000;
				expect(await jobStatus(ctx, { deadline: t - 1 })).toMatchObject({ allEnded: true });
				const got = await collectJob(ctx, { ...collectOptions(ctx, provider), deadline: t - 1 });
				expect(got.outcomes.map((o) => (o.ok ? 'ok' : o.error.code)).sort()).toEqual([
					...Array(7).fill('expired'),
					...Array(3).fill('ok'),
				]);
				expect((await ctx.store.stats(ctx.job)).succeeded).toBe(3);
			} finally {
				sandbox.batch.configure({ cancelMs: 0 });
			}
		});
	},
);

describe('an Anthropic batch that ended without a results_url', () => {
	/** The sandbox's Anthropic API with `results_url` taken out of every batch object. */
	const withoutResultsUrl: typeof fetch = async (input, init) => {
		const res = await fetch(input, init);
		const url = String(input instanceof Request ? input.url : input);
		if (!/\/v1\/messages\/batches\/[^/]+$/.test(new URL(url).pathname)) return res;
		const body = (await res.json()) as Record<string, unknown>;
		return new Response(JSON.stringify({ ...body, results_url: null }), {
			status: res.status,
			headers: { 'content-type': 'application/json' },
		});
	};
	function contextWithout(job: string): JobContext {
		const ctx = context('anthropic', job);
		return {
			...ctx,
			api: createBatchApi(
				'anthropic',
				{ apiKey: 'sk-test', baseUrl: sandbox.url },
				withoutResultsUrl,
			),
		};
	}

	it('all canceled: every record leaves Failed canceled (retryable), the batch counts as collected, nothing crashes', async () => {
		sandbox.batch.configure({ processingMs: 100_000, cancelMs: 0 });
		const ctx = contextWithout('no-results-canceled');
		await ctx.store.init();
		await submitRecords(ctx, records('anthropic', 12), {
			caps: PROVIDER_CAPS.anthropic,
			model: MODEL.anthropic,
		});
		await cancelJob(ctx);
		const got = await collectJob(ctx, collectOptions(ctx, 'anthropic'));
		expect(got.outcomes.map((o) => (o.ok ? 'ok' : `${o.error.code}:${o.error.retryable}`))).toEqual(
			Array(12).fill('canceled:true'),
		);
		expect(got.collected).toHaveLength(1);
		expect(got.pending).toEqual([]);
		expect((await ctx.store.stats(ctx.job)).failed).toBe(12);
		const again = await collectJob(ctx, collectOptions(ctx, 'anthropic'));
		expect(again.outcomes).toEqual([]);
		expect((await resubmittable(ctx, { maxRounds: 2 })).records).toHaveLength(12);
	});

	it('answers counted but no results_url yet: nothing is emitted or marked, a later Collect reads them all', async () => {
		sandbox.batch.configure({ processingMs: 100_000 });
		const ctx = contextWithout('no-results-yet');
		await ctx.store.init();
		await submitRecords(ctx, records('anthropic', 12), {
			caps: PROVIDER_CAPS.anthropic,
			model: MODEL.anthropic,
		});
		t += 100_000;
		const early = await collectJob(ctx, collectOptions(ctx, 'anthropic'));
		expect(early.outcomes).toEqual([]);
		expect(early.pending).toHaveLength(1);
		expect(early.collected).toEqual([]);
		const later = await collectJob(
			{ ...ctx, api: context('anthropic', ctx.job).api },
			collectOptions(ctx, 'anthropic'),
		);
		expect(later.outcomes.filter((o) => o.ok)).toHaveLength(12);
	});
});
