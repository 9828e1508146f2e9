/**
 * A Deadline cancel collects what the batch finished before it: records that succeeded come
 * out on Success (paid once), only the rest leave `expired`. While the provider is still
 * cancelling, Collect waits instead of failing paid records. Both providers, both ledgers.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { collectJob, jobStatus } from '../../core/batch-api';
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
	verdicts,
} from './collect-fixtures';

let sandbox: Sandbox;
beforeAll(async () => {
	sandbox = await startSandbox({ now: () => fakeClock.t, batch: { processingMs: 100_000 } });
});
afterAll(async () => sandbox?.close());

const count = (codes: string[]) =>
	codes.reduce<Record<string, number>>((m, c) => ({ ...m, [c]: (m[c] ?? 0) + 1 }), {});

describe.each(PROVIDERS)('Deadline reached mid-batch: %s', (provider) => {
	it.each(LEDGERS)(
		'%s: the 21 of 50 that succeeded before the cancel are Success, 29 expired',
		async (kind) => {
			const store = await openLedger(await newLedger(kind));
			const ctx = jobContext(sandbox, provider, store, `deadline-${provider}-${kind}`);
			sandbox.batch.configure({ cancelMs: 0 });
			await submit(ctx, textRecords(provider, 50));
			fakeClock.t += 42_000; // 21 of 50 processed
			const got = await collectJob(ctx, { ...collectOptions(ctx), deadline: fakeClock.t - 1 });
			const codes = count(Object.values(verdicts(got.outcomes)));
			console.log(`[deadline ${provider} ${kind}] ${JSON.stringify(codes)}`);
			expect(codes).toEqual({ ok: 21, expired: 29 });
			expect((await store.stats(ctx.job)).succeeded).toBe(21);
			await store.close();
		},
	);

	it.each(LEDGERS)(
		'%s: while the cancel is in progress nothing is failed; once it ends the finished ones are Success',
		async (kind) => {
			const store = await openLedger(await newLedger(kind));
			const ctx = jobContext(sandbox, provider, store, `deadline-slow-${provider}-${kind}`);
			sandbox.batch.configure({ cancelMs: 30_000 });
			try {
				await submit(ctx, textRecords(provider, 50));
				fakeClock.t += 42_000;
				const deadline = fakeClock.t - 1;
				const status = await jobStatus(ctx, { deadline });
				expect({ allEnded: status.allEnded, deadlineReached: status.deadlineReached }).toEqual({
					allEnded: false,
					deadlineReached: true,
				});
				const early = await collectJob(ctx, { ...collectOptions(ctx), deadline });
				expect({ emitted: early.outcomes.length, pending: early.pending.length }).toEqual({
					emitted: 0,
					pending: 1,
				});
				fakeClock.t += 30_000;
				expect((await jobStatus(ctx, { deadline })).allEnded).toBe(true);
				const got = await collectJob(ctx, { ...collectOptions(ctx), deadline });
				expect(count(Object.values(verdicts(got.outcomes)))).toEqual({ ok: 21, expired: 29 });
			} finally {
				sandbox.batch.configure({ cancelMs: 0 });
				await store.close();
			}
		},
	);
});
