/**
 * Publishing is claimed: two Collects of one job at once (two executions, each with its own
 * connection to the ledger) emit each record exactly once between them — SQLite and
 * PostgreSQL, both providers, several runs each.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { collectJob } from '../../core/batch-api';
import { startSandbox, type Sandbox } from '../../sandbox/server';
import {
	LEDGERS,
	PROVIDERS,
	collectOptions,
	fakeClock,
	jobContext,
	newLedger,
	openLedger,
	submit,
	textRecords,
} from './collect-fixtures';

const RUNS = 3;
let sandbox: Sandbox;

beforeAll(async () => {
	sandbox = await startSandbox({ now: () => fakeClock.t, batch: { processingMs: 100_000 } });
});
afterAll(async () => sandbox?.close());

describe.each(PROVIDERS)('two Collects at once: %s', (provider) => {
	it.each(LEDGERS)('%s: each of 50 records emitted exactly once across both', async (kind) => {
		const twice: number[] = [];
		const missing: number[] = [];
		for (let run = 0; run < RUNS; run++) {
			const ledger = await newLedger(kind);
			const [a, b] = [await openLedger(ledger), await openLedger(ledger)];
			const job = `two-collects-${provider}-${run}`;
			const ctxA = jobContext(sandbox, provider, a, job);
			const ctxB = jobContext(sandbox, provider, b, job);
			await submit(ctxA, textRecords(provider, 50));
			fakeClock.t += 100_000;
			const [ra, rb] = await Promise.all([
				collectJob(ctxA, collectOptions(ctxA)),
				collectJob(ctxB, collectOptions(ctxB)),
			]);
			const ids = [...ra.outcomes, ...rb.outcomes].map((o) => o.entry.recordId);
			twice.push(ids.length - new Set(ids).size);
			missing.push(50 - new Set(ids).size);
			// A third Collect afterwards: nothing left to publish.
			expect((await collectJob(ctxA, collectOptions(ctxA))).outcomes).toEqual([]);
			await a.close();
			await b.close();
		}
		console.log(
			`[two collects ${provider} ${kind}] records emitted twice per run: ${twice.join(', ')}; missing: ${missing.join(', ')}`,
		);
		expect({ twice, missing }).toEqual({
			twice: Array(RUNS).fill(0),
			missing: Array(RUNS).fill(0),
		});
	});
});

describe.each(PROVIDERS)('a batch held by a Collect on another host: %s', (provider) => {
	it.each(LEDGERS)(
		'%s: left to it while its lease runs (busy, nothing emitted); taken over once it ran out, every record emitted once, those it had published included',
		async (kind) => {
			const store = await openLedger(await newLedger(kind));
			const job = `held-${provider}`;
			const ctx = jobContext(sandbox, provider, store, job);
			const records = textRecords(provider, 50);
			await submit(ctx, records);
			fakeClock.t += 100_000;
			const [row] = await ctx.batches.batches(job);
			// Another n8n instance took the batch and published 20 records, then went silent.
			const taken = await ctx.batches.takeCollectLease(job, row.batchId, {
				owner: 'other-host/pid:[4026531836]|4242|5d1e-process|exec-1',
				until: new Date(fakeClock.t + 60_000).toISOString(),
				previous: null,
			});
			expect(taken).toBe(true);
			await ctx.batches.markPublishing(
				job,
				records.slice(0, 20).map((r) => r.recordId),
			);

			const whileHeld = await collectJob(ctx, collectOptions(ctx));
			expect({ emitted: whileHeld.outcomes.length, busy: whileHeld.busy }).toEqual({
				emitted: 0,
				busy: [row.batchId],
			});

			fakeClock.t += 60_000;
			const after = await collectJob(ctx, collectOptions(ctx));
			const ids = after.outcomes.map((o) => o.entry.recordId);
			expect({ emitted: ids.length, distinct: new Set(ids).size, busy: after.busy }).toEqual({
				emitted: 50,
				distinct: 50,
				busy: [],
			});
			expect((await collectJob(ctx, collectOptions(ctx))).outcomes).toEqual([]);
			await store.close();
		},
	);
});
