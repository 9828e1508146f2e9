/**
 * The Gemini Batch API (core/batch-api/providers/gemini.ts) against the sandbox: Submit sends
 * a small batch inline and a large one as an uploaded JSONL file, Check Status reads the
 * operation, Collect joins inlined responses or the responses file by key — each record gets
 * the same answer realtime gives it, at half the realtime price — failed lines are classified
 * like realtime errors, and a submission's batch is found by its nonce.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
	PROVIDER_CAPS,
	collectJob,
	jobStatus,
	submitRecords,
	type CollectOutcome,
	type JobContext,
	type PreparedRecord,
} from '../../../core/batch-api';
import {
	GEMINI_INLINE_MAX_BYTES,
	createGeminiBatchApi,
} from '../../../core/batch-api/providers/gemini';
import { guardedBatchApi } from '../../../core/batch-api/providers';
import { batchStoreFor } from '../../../core/batch-api/store/factory';
import { inputPolicy, isItemError } from '../../../core/call/input';
import { createProvider } from '../../../core/call/providers';
import { streamingFetch } from '../../../core/batch-api/providers/stream-fetch';
import { costUsd } from '../../../core/cost';
import { readGeminiResultLine } from '../../../core/batch-api/results';
import { readGeminiResponse } from '../../../core/call/providers/gemini-bodies';
import { createCheckpoint, openStore } from '../../../core/ledger';
import { expectedReply, startSandbox, type Sandbox } from '../../../sandbox/server';

const MODEL = 'gemini-2.5-flash';
const KEY = 'gk-batch-SECRET-42';
const SCHEMA = {
	type: 'object',
	properties: { supplier: { type: 'string' }, total: { type: 'number' }, echo: { type: 'string' } },
	required: ['supplier', 'total', 'echo'],
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

function records(n: number, prompt = (i: number) => `Invoice ${i}: ACME GmbH, total ${i * 3} EUR`) {
	const policy = inputPolicy({
		provider: 'gemini',
		scope: 'test-scope',
		model: MODEL,
		schema: SCHEMA,
		maxTokens: 200,
		contextWindow: 0,
	});
	const out: PreparedRecord[] = [];
	for (let i = 0; i < n; i++) {
		const r = policy(i, { prompt: prompt(i), system: 'Extract.', recordId: `INV-${i}` });
		if (isItemError(r)) throw new Error(r.message);
		out.push({
			index: i,
			recordId: r.recordId,
			promptHash: r.promptHash,
			request: r.request,
			item: { i },
		});
	}
	return out;
}

/** A job on the sandbox's Gemini API, the requests it sent recorded (method + path). */
function context(job: string, inlineMaxBytes?: number) {
	const sent: string[] = [];
	const fetchImpl = ((url: string | URL | Request, init?: RequestInit) => {
		const u = new URL(String(url));
		sent.push(`${init?.method ?? 'GET'} ${u.pathname}`);
		return streamingFetch(url, init);
	}) as typeof fetch;
	const api = createGeminiBatchApi({ apiKey: KEY, baseUrl: sandbox.url }, fetchImpl, {
		...(inlineMaxBytes === undefined ? {} : { inlineMaxBytes }),
	});
	const store = openStore({
		kind: 'sqlite',
		path: join(mkdtempSync(join(tmpdir(), 'gemini-batch-')), 'l.sqlite'),
	});
	const ctx: JobContext = {
		api: guardedBatchApi(api, [KEY]),
		store,
		batches: batchStoreFor(store),
		job,
		clock,
	};
	return { ctx, sent };
}

const collectOptions = (ctx: JobContext) => ({
	policy: {
		costOf: (model: string, usage: { inputTokens: number; outputTokens: number }) =>
			costUsd(model, usage, { batch: true }),
		now: () => t,
	},
	checkpoint: createCheckpoint(ctx.store, ctx.job, { clock }),
});

/** Each record's outcome by record ID: its answer, or its error code. */
function byRecord(outcomes: CollectOutcome[]) {
	return new Map(outcomes.map((o) => [o.entry.recordId, o]));
}

describe.each([
	[
		'an uploaded JSONL file (the default, however small the batch)',
		undefined,
		[
			'POST /upload/v1beta/files',
			'POST /upload/v1beta/files',
			'POST /v1beta/models/gemini-2.5-flash:batchGenerateContent',
		],
	],
	[
		'inline requests (when asked for)',
		GEMINI_INLINE_MAX_BYTES,
		['POST /v1beta/models/gemini-2.5-flash:batchGenerateContent'],
	],
] as const)('Gemini batch job with %s', (_name, inlineMaxBytes, createCalls) => {
	it('Submit → Check Status → Collect: every record once, the realtime answer at half its price', async () => {
		const { ctx, sent } = context(`gemini-${String(inlineMaxBytes)}`, inlineMaxBytes);
		await ctx.store.init();
		const recs = records(30);
		const sub = await submitRecords(ctx, recs, { caps: PROVIDER_CAPS.gemini, model: MODEL });
		expect(sub.created.map((b) => [b.requestCount, b.id.startsWith('batches/')])).toEqual([
			[30, true],
		]);
		expect(sent).toEqual(createCalls);

		const running = await jobStatus(ctx);
		expect(running.allEnded).toBe(false);
		expect(running.batches.map((b) => [b.state, b.providerStatus])).toEqual([
			['in_progress', 'running'],
		]);
		t += 100_000;
		const ended = await jobStatus(ctx);
		expect(ended.batches.map((b) => [b.state, b.providerStatus, b.counts.succeeded])).toEqual([
			['ended', 'succeeded', 30],
		]);

		const got = await collectJob(ctx, collectOptions(ctx));
		expect(got.outcomes).toHaveLength(30);
		const realtime = createProvider('gemini', { apiKey: KEY, baseUrl: sandbox.url });
		let batchUsd = 0;
		let realtimeUsd = 0;
		for (const rec of recs) {
			const o = byRecord(got.outcomes).get(rec.recordId)!;
			expect(o.ok).toBe(true);
			if (!o.ok) continue;
			const live = await realtime.complete(rec.request, { timeoutMs: 5000 });
			expect(o.result.output).toEqual(JSON.parse(live.text));
			expect(o.result.output).toEqual(
				expectedReply({ prompt: rec.request.prompt, schema: SCHEMA }).output,
			);
			expect(o.result.usage).toEqual(live.usage);
			batchUsd += o.result.costUsd ?? Number.NaN;
			realtimeUsd += costUsd(MODEL, live.usage)!;
		}
		expect(batchUsd).toBeCloseTo(realtimeUsd / 2, 12);
		expect((await ctx.store.stats(ctx.job)).succeeded).toBe(30);
		expect((await collectJob(ctx, collectOptions(ctx))).outcomes).toEqual([]);
	});

	it('failed lines are classified like realtime answers; a refusal is content_filter', async () => {
		const { ctx } = context(`gemini-lines-${String(inlineMaxBytes)}`, inlineMaxBytes);
		await ctx.store.init();
		const recs = records(
			4,
			(i) =>
				[
					'bad [[sandbox:status400]]',
					'flaky [[sandbox:status500]]',
					'refused [[sandbox:contentPolicy]]',
					'Invoice 3: fine',
				][i],
		);
		await submitRecords(ctx, recs, { caps: PROVIDER_CAPS.gemini, model: MODEL });
		t += 100_000;
		const got = byRecord((await collectJob(ctx, collectOptions(ctx))).outcomes);
		const summary = [...recs].map((r) => {
			const o = got.get(r.recordId)!;
			return o.ok ? 'ok' : `${o.error.code} ${o.error.retryable} ${o.error.provider}`;
		});
		expect(summary).toEqual([
			'invalid_request false gemini',
			'server_error true gemini',
			'content_filter false gemini',
			'ok',
		]);
	});
});

describe('Gemini batch API', () => {
	it('an inlined response without its key (as Gemini answers today) is never joined by position', () => {
		const line = readGeminiResultLine(
			{ response: { candidates: [{ content: { parts: [{ text: 'an answer' }] } }] } },
			(r) => readGeminiResponse(r, { model: MODEL }),
			'inlined response 1',
		);
		expect(line.ok).toBe(false);
		expect(line.customId).toBe('');
		expect(!line.ok && line.error).toMatchObject({ code: 'server_error', retryable: true });
	});

	it('finds a submission by the nonce in its display name, and nothing else', async () => {
		const { ctx } = context('find');
		const req = records(1)[0].request;
		const line = ctx.api.requestLine('abcdefabcdef-r1', req);
		const created = await ctx.api.create([line], {
			submission: 'abcdefabcdef',
			model: MODEL,
			job: 'x',
			records: '1',
		});
		const found = await ctx.api.findSubmission('abcdefabcdef', { after: t - 1000, count: 1 });
		expect(found).toEqual({ byKey: true, batches: [expect.objectContaining({ id: created.id })] });
		expect(await ctx.api.findSubmission('zzzzzzzzzzzz', { after: t - 1000, count: 1 })).toEqual({
			byKey: true,
			batches: [],
		});
	});

	it('a refused create leaves as a classified, redacted error with its status', async () => {
		const { ctx } = context('refused');
		sandbox.configure({ apiKeys: ['another-key'] });
		try {
			const e = await ctx.api
				.create([ctx.api.requestLine('abcdefabcdef-r1', records(1)[0].request)], {
					submission: 'abcdefabcdef',
					model: MODEL,
				})
				.then(
					() => undefined,
					(x: unknown) => x as { code: string; status: number; message: string },
				);
			expect([e?.code, e?.status]).toEqual(['auth', 400]);
			expect(e?.message).not.toContain(KEY);
		} finally {
			sandbox.configure({ apiKeys: undefined });
		}
	});
});
