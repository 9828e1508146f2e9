/**
 * Records per Request and prompt caching in provider batches (core/batch-api) against the
 * sandbox's batch APIs, both providers, SQLite ledger, fake clock: one request line per pack,
 * each record its own answer (or a retryable failure carrying its share when the grouped
 * answer did not attribute one beyond doubt, sent alone by the next Submit), costs that add up
 * to what the sandbox billed, cache reads priced before the batch discount.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import {
	PROVIDER_CAPS,
	collectJob,
	createBatchApi,
	resubmittable,
	submitRecords,
	type CollectOutcome,
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
beforeEach(() => {
	sandbox.reset();
	sandbox.batch.reset();
	sandbox.batch.configure({ groupFaults: {} });
});

const MODEL: Record<ProviderName, string> = {
	openai: 'gpt-4o-mini',
	anthropic: 'claude-3-5-haiku-latest',
	gemini: 'gemini-2.5-flash',
};

const ticket = (i: number) => `Ticket ${i}: invoice ${i * 7} wrong`;

function records(
	provider: ProviderName,
	n: number,
	o: { system?: string; cacheTtl?: '5m' } = {},
): PreparedRecord[] {
	const policy = inputPolicy({
		provider,
		scope: 'test-scope',
		model: MODEL[provider],
		schema: SCHEMA,
		maxTokens: 200,
		contextWindow: 0,
		...(o.cacheTtl ? { cacheTtl: o.cacheTtl } : {}),
	});
	return Array.from({ length: n }, (_, i) => {
		const r = policy(i, {
			prompt: ticket(i),
			system: o.system ?? 'Classify.',
			recordId: `T-${i}`,
		});
		if (isItemError(r)) throw new Error(r.message);
		return {
			index: i,
			recordId: r.recordId,
			promptHash: r.promptHash,
			request: r.request,
			item: { id: `T-${i}`, text: ticket(i) },
		};
	});
}

function context(provider: ProviderName, job: string): JobContext {
	const dir = mkdtempSync(join(tmpdir(), 'llm-batch-grouped-'));
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

const grouping = (n: number) => ({ recordsPerRequest: n, schema: SCHEMA });

async function collect(ctx: JobContext): Promise<CollectOutcome[]> {
	t += 100_000;
	const got = await collectJob(ctx, {
		policy: {
			costOf: (model, usage) => costUsd(model, usage, { batch: true }),
			now: () => t,
		},
		checkpoint: createCheckpoint(ctx.store, ctx.job, { clock }),
	});
	return got.outcomes;
}

/** The answer a record gets sent alone (the sandbox answers each record of a group so). */
const ownAnswer = (i: number) => expectedReply({ prompt: ticket(i), schema: SCHEMA }).output;

const billedUsd = (provider: ProviderName) => {
	const b = sandbox.batch.stats().billed;
	return costUsd(
		MODEL[provider],
		{
			inputTokens: b.inputTokens,
			outputTokens: b.outputTokens,
			cachedInputTokens: b.cacheReadTokens,
			cacheWriteTokens: b.cacheWriteTokens,
		},
		{ batch: true },
	)!;
};

const paidUsd = (outcomes: CollectOutcome[]) =>
	outcomes.reduce((a, o) => a + ((o.ok ? o.result.costUsd : o.error.costUsd) ?? 0), 0);

describe.each(['openai', 'anthropic'] as const)('grouped batch requests: %s', (provider) => {
	it('50 records at 10 per request: 5 request lines, every record its own answer once, costs add up to the billed usage', async () => {
		const ctx = context(provider, `grouped-${provider}`);
		const recs = records(provider, 50);
		const sub = await submitRecords(ctx, recs, {
			caps: PROVIDER_CAPS[provider],
			model: MODEL[provider],
			grouping: grouping(10),
		});
		expect(sub.created.map((b) => [b.requestCount, b.lines])).toEqual([[50, 5]]);
		expect(sandbox.batch.stats().requestsReceived).toBe(5);

		const out = await collect(ctx);
		expect(out).toHaveLength(50);
		expect(out.filter((o) => !o.ok)).toEqual([]);
		const byId = new Map(out.map((o) => [o.entry.recordId, o]));
		expect(byId.size).toBe(50);
		for (let i = 0; i < 50; i++) {
			const o = byId.get(`T-${i}`)!;
			expect(o.ok && o.result.output).toEqual(ownAnswer(i));
			expect(o.ok && o.result.groupSize).toBe(10);
			expect(o.entry.itemIndex).toBe(i);
		}
		expect(sandbox.batch.stats().billed.lines).toBe(5);
		expect(paidUsd(out)).toBeCloseTo(billedUsd(provider), 9);
	});

	it('grouped answers that drop or swap records: nothing misattributed; the unattributed fail retryable with their share, and the next Submit sends them alone', async () => {
		sandbox.batch.configure({ groupFaults: { drop: 0.3, swap: 0.3 } });
		const ctx = context(provider, `grouped-faults-${provider}`);
		const recs = records(provider, 60);
		const o = { caps: PROVIDER_CAPS[provider], model: MODEL[provider], grouping: grouping(6) };
		await submitRecords(ctx, recs, o);
		expect(sandbox.batch.stats().requestsReceived).toBe(10);
		const first = await collect(ctx);
		expect(first).toHaveLength(60);
		const ok = first.filter((x) => x.ok);
		const failed = first.filter((x) => !x.ok);
		expect(failed.length).toBeGreaterThan(0);
		for (const x of ok) {
			const i = Number(x.entry.recordId.slice(2));
			expect(x.ok && x.result.output).toEqual(ownAnswer(i));
		}
		for (const x of failed) {
			expect(x.ok).toBe(false);
			if (x.ok) continue;
			expect(x.error.code).toBe('malformed_output');
			expect(x.error.retryable).toBe(true);
			expect(x.error.usage?.inputTokens).toBeGreaterThan(0);
		}
		expect(paidUsd(first)).toBeCloseTo(billedUsd(provider), 9);

		// Resubmit Failed takes them too (the same resend rule).
		const resend = await resubmittable(ctx, { maxRounds: 3 });
		expect(resend.records.map((r) => r.recordId).sort()).toEqual(
			failed.map((x) => x.entry.recordId).sort(),
		);

		sandbox.batch.configure({ groupFaults: {} });
		const before = sandbox.batch.stats().requestsReceived;
		const again = await submitRecords(ctx, recs, o);
		expect(again.created.map((b) => b.requestCount)).toEqual([failed.length]);
		// Alone: one request line per record sent again.
		expect(sandbox.batch.stats().requestsReceived - before).toBe(failed.length);
		const second = await collect(ctx);
		expect(second).toHaveLength(failed.length);
		for (const x of second) {
			const i = Number(x.entry.recordId.slice(2));
			expect(x.ok && x.result.output).toEqual(ownAnswer(i));
			expect(x.ok && x.result.groupSize).toBeUndefined();
		}
	});
});

describe.each(['openai', 'anthropic'] as const)(
	'a grouped answer unusable as a whole: %s',
	(provider) => {
		it('a refused group fails each of its records (retryable, its own code); the next Submit sends them alone, and only the refused prompt stays refused', async () => {
			const ctx = context(provider, `grouped-refused-${provider}`);
			const recs = records(provider, 10);
			recs[7].request.prompt += ' [[sandbox:contentPolicy]]';
			const o = { caps: PROVIDER_CAPS[provider], model: MODEL[provider], grouping: grouping(5) };
			await submitRecords(ctx, recs, o);
			const first = await collect(ctx);
			const failed = first.filter((x) => !x.ok).map((x) => x.entry.recordId);
			expect(failed.sort()).toEqual(['T-5', 'T-6', 'T-7', 'T-8', 'T-9']);
			for (const x of first)
				if (!x.ok) {
					expect([x.error.code, x.error.retryable]).toEqual(['content_filter', true]);
					expect(x.error.usage?.inputTokens).toBeGreaterThan(0);
				}
			// The refused request was paid: its records carry their shares.
			expect(paidUsd(first)).toBeCloseTo(billedUsd(provider), 9);

			const before = sandbox.batch.stats().requestsReceived;
			await submitRecords(ctx, recs, o);
			expect(sandbox.batch.stats().requestsReceived - before).toBe(5);
			const second = await collect(ctx);
			expect(
				second
					.filter((x) => x.ok)
					.map((x) => x.entry.recordId)
					.sort(),
			).toEqual(['T-5', 'T-6', 'T-8', 'T-9']);
			const refused = second.find((x) => !x.ok);
			expect(refused?.entry.recordId).toBe('T-7');
			// Alone, a refusal is the record's own: not sent again.
			const third = await submitRecords(ctx, recs, o);
			expect(third.created).toEqual([]);
			expect(third.skipped.find((s) => s.recordId === 'T-7')?.reason).toBe('not_retryable');
		});
	},
);

describe('prompt caching in batch requests', () => {
	const longSystem = 'Classify the support ticket by category and priority. '.repeat(700);

	it.each(['openai', 'anthropic'] as const)(
		'%s: grouped requests with a long shared system prompt read it from the cache; priced at the cache price, then the batch discount',
		async (provider) => {
			const ctx = context(provider, `cached-${provider}`);
			const recs = records(provider, 40, { system: longSystem, cacheTtl: '5m' });
			await submitRecords(ctx, recs, {
				caps: PROVIDER_CAPS[provider],
				model: MODEL[provider],
				grouping: grouping(10),
			});
			const out = await collect(ctx);
			expect(out.filter((o) => !o.ok)).toEqual([]);
			const billed = sandbox.batch.stats().billed;
			// 4 requests: the first writes the shared prefix, the other three read it.
			expect(billed.lines).toBe(4);
			expect(billed.cacheReadTokens).toBeGreaterThan(0);
			if (provider === 'anthropic') expect(billed.cacheWriteTokens).toBeGreaterThan(0);
			const cached = out.reduce((a, o) => a + ((o.ok && o.result.usage.cachedInputTokens) || 0), 0);
			expect(cached).toBe(billed.cacheReadTokens);
			expect(paidUsd(out)).toBeCloseTo(billedUsd(provider), 9);
			// Cache price first, then the batch discount: below the uncached batch price.
			const uncached = costUsd(
				MODEL[provider],
				{ inputTokens: billed.inputTokens, outputTokens: billed.outputTokens },
				{ batch: true },
			)!;
			expect(paidUsd(out)).toBeLessThan(uncached);
		},
	);
});
