/**
 * A job whose chunks register their own records: complete only once every chunk is marked done
 * and nothing is pending or processing; exactly one execution gets the report. Both stores,
 * each chunk on its own handle (another worker, in effect).
 */
import { describe, expect, it } from 'vitest';

import {
	chunksJob,
	isJobComplete,
	jobProgress,
	reportJob,
} from '../../../core/ledger/job-progress';
import type { LedgerStore, LedgerWrite } from '../../../core/ledger/types';
import { T0, T1, openedStores, postgresFactory, result, sqliteFactory } from './fixtures';

const NOW = Date.parse(T1);

describe.each([sqliteFactory, postgresFactory])('job progress by chunks: $name', (factory) => {
	const stores = openedStores(factory);
	const handle = (of?: LedgerStore) => (of ? stores.second(of) : stores.fresh());

	/** A chunk's records answered, as LLM Batch Call leaves them. */
	const answered = (ids: string[]): LedgerWrite[] =>
		ids.map((id) => ({ type: 'succeeded', result: result(id, `h${id}`), at: T0 }));

	it('is not complete while a chunk has not run, even with nothing pending; the last chunk reports', async () => {
		const first = await handle();
		const second = await handle(first);
		const opts = (chunk: string) => ({
			chunk,
			chunks: 3,
			claimReport: true,
			owner: `worker-${chunk}`,
			at: T1,
			now: NOW,
		});
		await first.writeBatch('job', answered(['a', 'b']));
		const afterOne = await jobProgress(first, 'job', opts('0'));
		expect(afterOne).toMatchObject({
			total: 2,
			succeeded: 2,
			pending: 0,
			processing: 0,
			chunks: 3,
			chunksDone: 1,
			complete: false,
			reportClaimed: false,
		});

		await second.writeBatch('job', answered(['c', 'd']));
		expect(await jobProgress(second, 'job', opts('1'))).toMatchObject({
			total: 4,
			chunksDone: 2,
			complete: false,
			reportClaimed: false,
		});

		await first.writeBatch('job', answered(['e']));
		const last = await jobProgress(first, 'job', opts('2'));
		expect(last).toMatchObject({
			total: 5,
			succeeded: 5,
			chunksDone: 3,
			complete: true,
			reportClaimed: true,
		});
		// the marks and the claim live beside the job: its own stats count only its records
		expect((await second.stats('job')).total).toBe(5);
		expect((await second.stats(chunksJob('job'))).total).toBe(3);
		expect((await second.stats(reportJob('job'))).total).toBe(1);
	});

	it('a chunk run again is counted once, and chunks finishing together give one report', async () => {
		const stores = [await handle()];
		stores.push(await handle(stores[0]), await handle(stores[0]));
		await stores[0].writeBatch('job', answered(['a', 'b', 'c']));
		const opts = (chunk: string, owner: string) => ({
			chunk,
			chunks: 3,
			claimReport: true,
			owner,
			at: T1,
			now: NOW,
		});
		// chunk 0 twice (a rerun) does not make the job complete
		await jobProgress(stores[0], 'job', opts('0', 'w0'));
		expect(await jobProgress(stores[1], 'job', opts('0', 'w1'))).toMatchObject({
			chunksDone: 1,
			complete: false,
		});
		const together = await Promise.all([
			jobProgress(stores[1], 'job', opts('1', 'w1')),
			jobProgress(stores[2], 'job', opts('2', 'w2')),
		]);
		// whichever marked last saw both marks; both may see the job complete, one reports
		expect(together.some((p) => p.complete)).toBe(true);
		expect(together.filter((p) => p.reportClaimed)).toHaveLength(1);
		// a chunk run again after the report: complete, but the report is not given twice
		expect(await jobProgress(stores[0], 'job', opts('1', 'w0'))).toMatchObject({
			chunksDone: 3,
			complete: true,
			reportClaimed: false,
		});
	});

	it('a record still processing or pending keeps the job open when every chunk is marked', async () => {
		const store = await handle();
		await store.writeBatch('job', [...answered(['a']), { type: 'pending', recordId: 'b', at: T0 }]);
		const p = await jobProgress(store, 'job', {
			chunk: '0',
			chunks: 1,
			owner: 'w',
			at: T1,
			now: NOW,
		});
		expect(p).toMatchObject({ chunksDone: 1, pending: 1, complete: false });
		expect(p).not.toHaveProperty('reportClaimed');
	});
});

describe('isJobComplete', () => {
	it('records registered up front: complete when there are records and none is open', () => {
		expect(isJobComplete({ total: 3, pending: 0, processing: 0 })).toBe(true);
		expect(isJobComplete({ total: 0, pending: 0, processing: 0 })).toBe(false);
		expect(isJobComplete({ total: 3, pending: 0, processing: 1 })).toBe(false);
	});
	it('counted chunks: complete only when every chunk is done', () => {
		const base = { total: 3, pending: 0, processing: 0, chunks: 4 };
		expect(isJobComplete({ ...base, chunksDone: 3 })).toBe(false);
		expect(isJobComplete({ ...base, chunksDone: 4 })).toBe(true);
	});
});

describe('jobProgress arguments', () => {
	it('rejects counted chunks without this chunk, and a negative count', async () => {
		const store = await sqliteFactory.create();
		await store.init();
		const base = { owner: 'w', at: T1, now: NOW };
		await expect(jobProgress(store, 'job', { ...base, chunks: 2 })).rejects.toThrow(
			'Expected `chunk`',
		);
		await expect(jobProgress(store, 'job', { ...base, chunks: -1, chunk: '0' })).rejects.toThrow(
			'Expected `chunks`',
		);
		await store.close();
	});
});
