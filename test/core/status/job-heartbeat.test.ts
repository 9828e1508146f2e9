/**
 * LLM Batch Job's operations beat for their job: counters of the records Collect emits, the
 * state `finished` or `stopped`, and what the operation returns or throws unchanged.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { closeAllStores, openStore } from '../../../core/ledger';
import { heartbeatStoreFor } from '../../../core/ledger/heartbeat';
import { emptyTally, tallyOutcome, withJobHeartbeat } from '../../../core/status/job-heartbeat';
import type { ItemError, LlmResult } from '../../../core/types';
import { FakeClock } from '../../helpers/fake-clock';

afterAll(async () => {
	await closeAllStores();
});

const T0 = Date.parse('2026-03-01T10:00:00.000Z');

const answer = (costUsd: number): LlmResult =>
	({
		recordId: 'r',
		output: 'ok',
		text: 'ok',
		model: 'gpt-4o-mini',
		provider: 'openai',
		finishReason: 'stop',
		usage: { inputTokens: 10, outputTokens: 4 },
		costUsd,
		attempts: 1,
		latencyMs: 0,
		cached: false,
		promptHash: 'h',
		completedAt: new Date(T0).toISOString(),
	}) as LlmResult;

const refusal: ItemError = {
	code: 'content_filter',
	message: 'refused',
	retryable: false,
	attempts: 1,
};

async function ledger() {
	const store = openStore({
		kind: 'sqlite',
		path: join(mkdtempSync(join(tmpdir(), 'job-beat-')), 'ledger.sqlite'),
	});
	await store.init();
	return store;
}

describe('withJobHeartbeat', () => {
	it('beats at the start, every 10 s while the operation runs and at the end, counting what it finished', async () => {
		const store = await ledger();
		const clock = new FakeClock(T0);
		const tally = emptyTally(3);
		let finish!: () => void;
		const work = new Promise<void>((r) => (finish = r));
		const op = withJobHeartbeat({ store, job: 'b', clock, execution: '55' }, tally, async () => {
			await work;
			return 'collected';
		});
		await clock.advance(0);
		tallyOutcome(tally, { ok: true, result: answer(0.002) });
		await clock.advance(10_000);
		tallyOutcome(tally, { ok: false, error: { ...refusal, costUsd: 0.001 } });
		tallyOutcome(tally, { ok: true, result: answer(0.002) });
		finish();
		expect(await op).toBe('collected');

		const { beats, samples } = await heartbeatStoreFor(store).read('b');
		// The end's beat in the same millisecond as the last interval's updates the row; its sample
		// is the interval's.
		expect(samples.map((s) => [s.at, s.done])).toEqual([
			[new Date(T0).toISOString(), 0],
			[new Date(T0 + 10_000).toISOString(), 1],
		]);
		expect(beats).toEqual([
			expect.objectContaining({
				execution: '55',
				node: 'LLM Batch Job',
				state: 'finished',
				total: 3,
				done: 3,
				succeeded: 2,
				failed: 1,
				failedByCode: { content_filter: 1 },
				inputTokens: 20,
				outputTokens: 8,
			}),
		]);
		expect(beats[0].costUsd).toBeCloseTo(0.005, 12);
	});

	it('an operation that throws is stopped, and throws as it would without the heartbeat', async () => {
		const store = await ledger();
		const clock = new FakeClock(T0);
		const boom = new Error('the provider refused the batch');
		await expect(
			withJobHeartbeat({ store, job: 'c', clock }, emptyTally(5), async () => {
				throw boom;
			}),
		).rejects.toBe(boom);
		const { beats } = await heartbeatStoreFor(store).read('c');
		expect(beats.map((b) => [b.state, b.total, b.node])).toEqual([['stopped', 5, 'LLM Batch Job']]);
	});
});
