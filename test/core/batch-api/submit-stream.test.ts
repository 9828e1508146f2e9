/**
 * A batch's lines stream up a page at a time (core/batch-api/lines.ts, providers/upload.ts):
 * pages of 1 MB, UTF-8 prompts, long record IDs (hashed custom_ids) — the provider receives
 * every line whole (the upload's length is exact) and each answer joins back to its record.
 * Both providers, against the sandbox.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
	PROVIDER_CAPS,
	collectJob,
	createBatchApi,
	submitRecords,
	type JobContext,
	type PreparedRecord,
} from '../../../core/batch-api';
import { inputPolicy, isItemError } from '../../../core/call/input';
import { createCheckpoint, openStore } from '../../../core/ledger';
import { batchStoreFor } from '../../../core/batch-api/store/factory';
import type { ProviderName } from '../../../core/types';
import { expectedReply, startSandbox, type Sandbox } from '../../../sandbox/server';

const MODEL: Record<ProviderName, string> = {
	openai: 'gpt-4o-mini',
	anthropic: 'claude-3-5-haiku-latest',
	gemini: 'gemini-2.5-flash',
};
let sandbox: Sandbox;
let t = 1_700_000_000_000;
const clock = { now: () => t };

beforeAll(async () => {
	sandbox = await startSandbox({ now: () => t, batch: { processingMs: 10_000 } });
});
afterAll(async () => sandbox.close());

/** 12 records of ~300 KB with accents, emoji, CJK and quotes; every third with a record ID too long for a custom_id. */
function records(provider: ProviderName): PreparedRecord[] {
	const policy = inputPolicy({
		provider,
		scope: 'test-scope',
		model: MODEL[provider],
		maxTokens: 20,
		contextWindow: 2_000_000,
	});
	return Array.from({ length: 12 }, (_, i) => {
		const text = `Ticket ${i}: «${'é✓ 漢字 "quoted" \\ 🚀 '.repeat(9_000)}» end ${i}`;
		const recordId = i % 3 === 0 ? `ticket/${i}/${'long-'.repeat(20)}` : `T-${i}`;
		const r = policy(i, { prompt: text, system: undefined, recordId });
		if (isItemError(r)) throw new Error(r.message);
		return {
			index: i,
			recordId,
			promptHash: r.promptHash,
			request: r.request,
			item: { id: recordId, text },
		};
	});
}

describe.each(['openai', 'anthropic'] as const)('a streamed batch: %s', (provider) => {
	it('pages of 1 MB, UTF-8 prompts and hashed custom_ids: every line arrives whole and joins back to its record', async () => {
		const store = openStore({
			kind: 'sqlite',
			path: join(mkdtempSync(join(tmpdir(), 'llm-batch-stream-')), 'l.sqlite'),
		});
		const ctx: JobContext = {
			api: createBatchApi(provider, {
				apiKey: 'sk-test',
				baseUrl: provider === 'openai' ? `${sandbox.url}/v1` : sandbox.url,
			}),
			store,
			batches: batchStoreFor(store),
			job: `stream-${provider}`,
			clock,
		};
		const recs = records(provider);
		const before = sandbox.batch.stats().requestsReceived;
		const sub = await submitRecords(ctx, recs, {
			caps: PROVIDER_CAPS[provider],
			model: MODEL[provider],
		});
		expect(sub.created.map((b) => b.requestCount)).toEqual([12]);
		expect(sandbox.batch.stats().requestsReceived - before).toBe(12);
		t += 10_000;
		const got = await collectJob(ctx, {
			policy: { costOf: () => 0, now: () => t },
			checkpoint: createCheckpoint(store, ctx.job, { clock }),
		});
		expect(got.unmatched).toBe(0);
		expect(got.outcomes).toHaveLength(12);
		for (const o of got.outcomes) {
			expect(o.ok).toBe(true);
			if (!o.ok) continue;
			const rec = recs.find((r) => r.recordId === o.entry.recordId)!;
			expect(o.result.text).toBe(expectedReply({ prompt: rec.request.prompt }).text);
			expect(JSON.parse(o.entry.item)).toEqual(rec.item);
		}
		await store.close();
	});
});
