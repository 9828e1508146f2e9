/**
 * Hostile result files, classified like realtime answers: one broken line fails only its own
 * record (or none, when it names none), a cut-off line is not `expired`, a success beats an
 * error line for the same record, two different answers are flagged, and a batch refused for
 * the enqueued-token limit is a retryable capacity wait. Both providers, both ledgers.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import { collectJob, resubmittable } from '../../core/batch-api';
import type { ResultFaults } from '../../sandbox/batch';
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
afterEach(() => sandbox.batch.configure({ resultFaults: {}, failBatches: null }));

const N = 9;
let seq = 0;

describe.each(PROVIDERS)('hostile result files: %s', (provider) => {
	describe.each(LEDGERS)('%s ledger', (kind) => {
		async function collectWith(faults: ResultFaults) {
			const store = await openLedger(await newLedger(kind));
			const ctx = jobContext(sandbox, provider, store, `hostile-${++seq}`);
			await submit(ctx, textRecords(provider, N));
			fakeClock.t += 100_000;
			sandbox.batch.configure({ resultFaults: faults });
			try {
				const got = await collectJob(ctx, collectOptions(ctx));
				return { ctx, store, got, codes: Object.values(verdicts(got.outcomes)) };
			} finally {
				sandbox.batch.configure({ resultFaults: {} });
			}
		}
		const count = (codes: string[]) =>
			codes.reduce<Record<string, number>>((m, c) => ({ ...m, [c]: (m[c] ?? 0) + 1 }), {});

		it('one malformed line that still shows its custom_id fails only its record (retryable, naming the line); the rest publish', async () => {
			const { got, codes, store } = await collectWith({ garbledLine: 3 });
			expect(count(codes)).toEqual({ ok: N - 1, server_error: 1 });
			const bad = got.outcomes.find((o) => !o.ok);
			expect(bad && !bad.ok && bad.error).toMatchObject({
				retryable: true,
				message: expect.stringMatching(
					/result line \((output file|results|responses file) line 4\) could not be read/,
				),
			});
			await store.close();
		});

		it('a line that names no record is counted unreadable; every record still publishes', async () => {
			const { got, codes, store } = await collectWith({ unreadableLine: 2 });
			expect(count(codes)).toEqual({ ok: N });
			expect({ unmatched: got.unmatched, unreadable: got.unreadable }).toEqual({
				unmatched: 1,
				unreadable: 1,
			});
			await store.close();
		});

		it('a line cut off mid-JSON is not expired: its record fails server_error naming the cut-off line', async () => {
			const { got, codes, store } = await collectWith({ cutOffLastLine: true });
			expect(count(codes)).toEqual({ ok: N - 1, server_error: 1 });
			const bad = got.outcomes.find((o) => !o.ok);
			expect(bad && !bad.ok && bad.error.message).toMatch(
				/could not be read \(not valid JSON.*billed/,
			);
			await store.close();
		});

		it('an error line before the good one: the paid answer wins, nothing left to resubmit', async () => {
			const { ctx, codes, store } = await collectWith({
				duplicateLine: { at: 0, kind: 'error-first' },
			});
			expect(count(codes)).toEqual({ ok: N });
			expect((await resubmittable(ctx, { maxRounds: 3 })).records).toHaveLength(0);
			await store.close();
		});

		it('the same answer twice is one answer', async () => {
			const { codes, store } = await collectWith({ duplicateLine: { at: 0, kind: 'same' } });
			expect(count(codes)).toEqual({ ok: N });
			await store.close();
		});

		it('two different answers for one record are flagged (Failed duplicate, both paid), never first-wins', async () => {
			const { got, codes, store } = await collectWith({
				duplicateLine: { at: 0, kind: 'conflict' },
			});
			expect(count(codes)).toEqual({ ok: N - 1, duplicate: 1 });
			expect(got.conflicts).toBe(1);
			const bad = got.outcomes.find((o) => !o.ok);
			expect(bad && !bad.ok && bad.error).toMatchObject({
				code: 'duplicate',
				retryable: true,
				answer: expect.any(String),
				usage: { inputTokens: expect.any(Number), outputTokens: expect.any(Number) },
			});
			await store.close();
		});

		if (provider === 'openai')
			it('a batch failed for the enqueued-token limit: every record a retryable capacity wait that Resubmit takes', async () => {
				const store = await openLedger(await newLedger(kind));
				const ctx = jobContext(sandbox, provider, store, `tokens-${++seq}`);
				sandbox.batch.configure({
					failBatches: {
						code: 'token_limit_exceeded',
						message:
							'Enqueued token limit reached for gpt-4o-mini in organization org-x. Limit: 2,000,000 enqueued tokens.',
					},
				});
				await submit(ctx, textRecords(provider, N));
				const got = await collectJob(ctx, collectOptions(ctx));
				expect(
					got.outcomes.map((o) => (o.ok ? 'ok' : `${o.error.code}:${o.error.retryable}`)),
				).toEqual(Array(N).fill('rate_limited:true'));
				expect((got.outcomes[0] as { error: { message: string } }).error.message).toMatch(
					/enqueued-token limit/,
				);
				expect((await resubmittable(ctx, { maxRounds: 3 })).records).toHaveLength(N);
				await store.close();
			});
	});
});
