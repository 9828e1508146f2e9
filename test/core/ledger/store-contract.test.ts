/**
 * One contract, two stores: every assertion runs against SQLite (a real file) and PostgreSQL
 * (the throw-away cluster from global setup).
 */
import { describe, expect, it, vi } from 'vitest';

import { createCheckpoint } from '../../../core/ledger/checkpoint';
import { LedgerStoreError } from '../../../core/ledger/errors';
import type { LedgerWrite } from '../../../core/ledger/types';
import {
	T0,
	T1,
	T2,
	T3,
	itemError,
	postgresFactory,
	result,
	sqliteFactory,
	type StoreFactory,
	openedStores,
} from './fixtures';

const factories: StoreFactory[] = [sqliteFactory, postgresFactory];

describe.each(factories)('ledger store contract: $name', (factory) => {
	const { fresh, second } = openedStores(factory);

	it('init is idempotent and a new job has zero stats', async () => {
		const store = await fresh();
		await store.init();
		await store.init();
		expect(await store.stats('job')).toEqual({
			job: 'job',
			total: 0,
			pending: 0,
			processing: 0,
			succeeded: 0,
			failed: 0,
			attempts: 0,
			inputTokens: 0,
			outputTokens: 0,
			costUsd: 0,
			errorsByCode: {},
			firstCreatedAt: null,
			lastUpdatedAt: null,
		});
	});

	it('a start marks the record processing and counts the attempt', async () => {
		const store = await fresh();
		await store.markProcessing('job', [{ recordId: 'a', promptHash: 'h1' }], T0);
		await store.writeBatch('job', [{ type: 'started', recordId: 'a', promptHash: 'h1', at: T1 }]);
		const records = await store.getMany('job', ['a', 'missing']);
		expect([...records.keys()]).toEqual(['a']);
		expect(records.get('a')).toEqual({
			job: 'job',
			recordId: 'a',
			status: 'processing',
			attempts: 2,
			promptHash: 'h1',
			lastError: null,
			result: null,
			createdAt: T0,
			updatedAt: T1,
		});
	});

	it('a success stores the whole result and round-trips its JSON', async () => {
		const store = await fresh();
		const r = result('a', 'h1', { output: { deep: [1, 'два', { x: null }] }, costUsd: undefined });
		await store.writeBatch('job', [
			{ type: 'started', recordId: 'a', promptHash: 'h1', at: T0 },
			{ type: 'succeeded', result: r, at: T1 },
		]);
		const record = (await store.getMany('job', ['a'])).get('a');
		expect(record).toEqual({
			job: 'job',
			recordId: 'a',
			status: 'succeeded',
			attempts: 1,
			promptHash: 'h1',
			lastError: null,
			result: JSON.parse(JSON.stringify(r)),
			createdAt: T1,
			updatedAt: T1,
		});
	});

	it('a failure stores the error and a later success clears it', async () => {
		const store = await fresh();
		await store.writeBatch('job', [
			{ type: 'started', recordId: 'a', promptHash: 'h1', at: T0 },
			{ type: 'failed', recordId: 'a', promptHash: 'h1', error: itemError('server_error'), at: T0 },
		]);
		let record = (await store.getMany('job', ['a'])).get('a');
		expect(record?.status).toBe('failed');
		expect(record?.lastError).toEqual(itemError('server_error'));
		expect(record?.attempts).toBe(1);
		await store.writeBatch('job', [
			{ type: 'started', recordId: 'a', promptHash: 'h1', at: T1 },
			{ type: 'succeeded', result: result('a', 'h1'), at: T2 },
		]);
		record = (await store.getMany('job', ['a'])).get('a');
		expect(record?.status).toBe('succeeded');
		expect(record?.lastError).toBeNull();
		expect(record?.attempts).toBe(2);
		expect(record?.createdAt).toBe(T0);
		expect(record?.updatedAt).toBe(T2);
	});

	it('a success is final for its prompt hash; a new prompt hash replaces it', async () => {
		const store = await fresh();
		await store.writeBatch('job', [{ type: 'succeeded', result: result('a', 'h1'), at: T0 }]);
		await store.writeBatch('job', [{ type: 'started', recordId: 'a', promptHash: 'h1', at: T1 }]);
		await store.writeBatch('job', [
			{ type: 'failed', recordId: 'a', promptHash: 'h1', error: itemError(), at: T1 },
		]);
		let record = (await store.getMany('job', ['a'])).get('a');
		expect({
			status: record?.status,
			attempts: record?.attempts,
			updatedAt: record?.updatedAt,
		}).toEqual({
			status: 'succeeded',
			attempts: 0,
			updatedAt: T0,
		});
		await store.writeBatch('job', [{ type: 'started', recordId: 'a', promptHash: 'h2', at: T2 }]);
		record = (await store.getMany('job', ['a'])).get('a');
		expect({
			status: record?.status,
			promptHash: record?.promptHash,
			attempts: record?.attempts,
		}).toEqual({
			status: 'processing',
			promptHash: 'h2',
			attempts: 1,
		});
	});

	it('a pending write creates missing records only', async () => {
		const store = await fresh();
		await store.writeBatch('job', [{ type: 'succeeded', result: result('a', 'h1'), at: T0 }]);
		await store.writeBatch('job', [
			{ type: 'pending', recordId: 'a', at: T1 },
			{ type: 'pending', recordId: 'b', at: T1 },
		]);
		const records = await store.getMany('job', ['a', 'b']);
		expect(records.get('a')?.status).toBe('succeeded');
		expect(records.get('b')).toMatchObject({
			status: 'pending',
			attempts: 0,
			promptHash: '',
			createdAt: T1,
		});
	});

	it('jobs are separate: the same record ID in two jobs', async () => {
		const store = await fresh();
		await store.writeBatch('one', [{ type: 'succeeded', result: result('a', 'h1'), at: T0 }]);
		await store.writeBatch('two', [{ type: 'started', recordId: 'a', promptHash: 'h1', at: T0 }]);
		expect((await store.getMany('one', ['a'])).get('a')?.status).toBe('succeeded');
		expect((await store.getMany('two', ['a'])).get('a')?.status).toBe('processing');
		expect((await store.stats('one')).total).toBe(1);
	});

	it('lists a job in record-ID pages, with and without a status filter', async () => {
		const store = await fresh();
		const writes: LedgerWrite[] = [];
		for (let i = 0; i < 2500; i++) {
			const id = `r${String(i).padStart(5, '0')}`;
			writes.push(
				i % 5 === 0
					? { type: 'failed', recordId: id, promptHash: 'h', error: itemError('timeout'), at: T0 }
					: { type: 'succeeded', result: result(id, `h${i}`), at: T0 },
			);
		}
		await store.writeBatch('job', writes);
		const seen: string[] = [];
		let after: string | undefined;
		for (;;) {
			const page = await store.list('job', { afterRecordId: after, limit: 1000 });
			if (page.length === 0) break;
			seen.push(...page.map((r) => r.recordId));
			after = page[page.length - 1].recordId;
		}
		expect(seen).toHaveLength(2500);
		expect(new Set(seen).size).toBe(2500);
		expect(seen).toEqual([...seen].sort());
		const failed = await store.list('job', { status: 'failed', limit: 10_000 });
		expect(failed).toHaveLength(500);
		expect(failed.every((r) => r.status === 'failed' && r.lastError?.code === 'timeout')).toBe(
			true,
		);
	});

	it('finds processing records older than a cutoff and requeues only those', async () => {
		const store = await fresh();
		await store.writeBatch('job', [
			{ type: 'started', recordId: 'old1', promptHash: 'h', at: T0 },
			{ type: 'started', recordId: 'old2', promptHash: 'h', at: T1 },
			{ type: 'started', recordId: 'new', promptHash: 'h', at: T3 },
			{ type: 'failed', recordId: 'failedOld', promptHash: 'h', error: itemError(), at: T0 },
		]);
		await store.writeBatch('other', [
			{ type: 'started', recordId: 'old1', promptHash: 'h', at: T0 },
		]);
		expect((await store.listStale('job', T2)).map((r) => r.recordId)).toEqual(['old1', 'old2']);
		const requeued = await store.requeueStale('job', T2, T3);
		expect(requeued.map((r) => [r.recordId, r.status, r.updatedAt])).toEqual([
			['old1', 'pending', T3],
			['old2', 'pending', T3],
		]);
		expect(await store.listStale('job', T2)).toEqual([]);
		expect((await store.getMany('other', ['old1'])).get('old1')?.status).toBe('processing');
		expect((await store.getMany('job', ['new'])).get('new')?.status).toBe('processing');
	});

	it('requeues chosen records whatever their status', async () => {
		const store = await fresh();
		await store.writeBatch('job', [
			{ type: 'failed', recordId: 'a', promptHash: 'h', error: itemError(), at: T0 },
			{ type: 'succeeded', result: result('b', 'h'), at: T0 },
			{ type: 'pending', recordId: 'c', at: T0 },
		]);
		expect(await store.requeue('job', ['a', 'b', 'c', 'missing'], T1)).toBe(2);
		const records = await store.getMany('job', ['a', 'b', 'c']);
		expect([...records.values()].map((r) => r.status)).toEqual(['pending', 'pending', 'pending']);
	});

	it('stats add up: counts, attempts, tokens, cost (with what failed records paid) and errors by code', async () => {
		const store = await fresh();
		await store.writeBatch('job', [
			{ type: 'started', recordId: 'a', promptHash: 'h', at: T0 },
			{
				type: 'succeeded',
				result: result('a', 'ha', { usage: { inputTokens: 100, outputTokens: 20 }, costUsd: 0.25 }),
				at: T1,
			},
			{ type: 'started', recordId: 'b', promptHash: 'h', at: T0 },
			{ type: 'started', recordId: 'b', promptHash: 'h', at: T1 },
			{
				type: 'succeeded',
				result: result('b', 'hb', {
					usage: { inputTokens: 50, outputTokens: 7 },
					costUsd: undefined,
				}),
				at: T2,
			},
			{ type: 'failed', recordId: 'c', promptHash: 'h', error: itemError('timeout'), at: T1 },
			{ type: 'failed', recordId: 'd', promptHash: 'h', error: itemError('timeout'), at: T1 },
			{
				type: 'failed',
				recordId: 'e',
				promptHash: 'h',
				// paid answers that failed the schema: counted in the job's cost
				error: {
					...itemError('content_filter'),
					usage: { inputTokens: 40, outputTokens: 9 },
					costUsd: 0.125,
				},
				at: T1,
			},
			{ type: 'started', recordId: 'f', promptHash: 'h', at: T1 },
			{ type: 'pending', recordId: 'g', at: T0 },
		]);
		expect(await store.stats('job')).toEqual({
			job: 'job',
			total: 7,
			pending: 1,
			processing: 1,
			succeeded: 2,
			failed: 3,
			attempts: 4,
			// the failed record's paid answers count in the tokens as in the cost
			inputTokens: 190,
			outputTokens: 36,
			costUsd: 0.375,
			errorsByCode: { content_filter: 1, timeout: 2 },
			firstCreatedAt: T0,
			lastUpdatedAt: T2,
		});
	});

	it('deleting a job removes its records and cache entries, not other jobs', async () => {
		const store = await fresh();
		await store.writeBatch('job', [
			{ type: 'succeeded', result: result('a', 'hash-a'), at: T0, cacheKeys: ['key-a'] },
			{ type: 'failed', recordId: 'b', promptHash: 'h', error: itemError(), at: T0 },
		]);
		await store.writeBatch('keep', [
			{ type: 'succeeded', result: result('a', 'hash-keep'), at: T0, cacheKeys: ['key-keep'] },
		]);
		expect(await store.deleteJob('job')).toBe(2);
		expect(await store.deleteJob('job')).toBe(0);
		expect((await store.stats('job')).total).toBe(0);
		expect((await store.stats('keep')).total).toBe(1);
		expect([...(await store.cacheGet(['key-a', 'key-keep'])).keys()]).toEqual(['key-keep']);
	});

	it('the response cache keeps the first result per key, and only results written with a key', async () => {
		const store = await fresh();
		await store.writeBatch('job', [
			{
				type: 'succeeded',
				result: result('a', 'same', { text: 'first' }),
				at: T0,
				cacheKeys: ['k'],
			},
			{
				type: 'succeeded',
				result: result('b', 'same', { text: 'second' }),
				at: T0,
				cacheKeys: ['k'],
			},
			{ type: 'succeeded', result: result('n', 'none'), at: T0 },
		]);
		await store.cachePut(
			'job',
			[
				{ key: 'k', result: result('c', 'same', { text: 'third' }) },
				{ key: 'other', result: result('d', 'other') },
			],
			T1,
		);
		const cache = await store.cacheGet(['k', 'other', 'absent', 'none']);
		expect([...cache.keys()].sort()).toEqual(['k', 'other']);
		expect(cache.get('k')?.text).toBe('first');
	});

	it('claims: one owner at a time, atomically across handles; done with the same hash; an expired lease is taken over', async () => {
		const store = await fresh();
		const other = await second(store);
		const until = (ms: number) => new Date(Date.parse(T0) + ms).toISOString();
		// Two handles race for the same 50 records: every record goes to exactly one of them.
		const ids = Array.from({ length: 50 }, (_, i) => ({ recordId: `r${i}`, promptHash: `h${i}` }));
		const [a, b] = await Promise.all([
			store.claim('job', ids, 'owner-a', T0, until(60_000)),
			other.claim('job', ids, 'owner-b', T0, until(60_000)),
		]);
		const wonA = ids.filter((e) => a.get(e.recordId)?.status === 'claimed').length;
		const wonB = ids.filter((e) => b.get(e.recordId)?.status === 'claimed').length;
		expect(wonA + wonB).toBe(50);
		for (const e of ids) {
			const states = [a.get(e.recordId)?.status, b.get(e.recordId)?.status].sort();
			expect(states).toEqual(['busy', 'claimed']);
		}
		const winner = a.get('r0')?.status === 'claimed' ? 'owner-a' : 'owner-b';
		const loser = winner === 'owner-a' ? 'owner-b' : 'owner-a';
		// The owner renews its own claim; the other one sees it busy until the lease ends.
		expect((await store.claim('job', [ids[0]], winner, T1, until(120_000))).get('r0')).toEqual({
			status: 'claimed',
		});
		expect((await store.claim('job', [ids[0]], loser, T1, until(120_000))).get('r0')).toEqual({
			status: 'busy',
			leaseUntil: until(120_000),
			owner: winner,
		});
		// An owner known dead has its leases ended at once.
		expect(await store.expireClaims('job', 'nobody')).toBe(0);
		// Lease over (the owner crashed): taken over.
		expect(
			(await other.claim('job', [ids[0]], loser, until(120_001), until(180_000))).get('r0'),
		).toEqual({ status: 'claimed' });
		const record = (await store.getMany('job', ['r0'])).get('r0');
		expect(record).toMatchObject({ status: 'processing', attempts: 3, promptHash: 'h0' });
		// Once succeeded with the same prompt hash the claim returns the stored result instead.
		await store.writeBatch('job', [{ type: 'succeeded', result: result('r0', 'h0'), at: T2 }]);
		expect((await store.claim('job', [ids[0]], 'owner-c', T3, until(240_000))).get('r0')).toEqual({
			status: 'done',
			result: result('r0', 'h0'),
		});
		// A changed prompt is stale: claimed again.
		expect(
			(
				await store.claim(
					'job',
					[{ recordId: 'r0', promptHash: 'h0-new' }],
					'owner-c',
					T3,
					until(240_000),
				)
			).get('r0'),
		).toEqual({ status: 'claimed' });
	});

	it('a result handed to a checkpoint is committed without flush(), visible to another handle', async () => {
		const store = await fresh();
		const reader = await second(store);
		const checkpoint = createCheckpoint(store, 'job', { clock: { now: () => Date.parse(T0) } });
		checkpoint.started('a', 'h1');
		checkpoint.succeeded(result('a', 'h1'));
		await vi.waitFor(
			async () => {
				expect((await reader.getMany('job', ['a'])).get('a')?.status).toBe('succeeded');
			},
			{ timeout: 5000, interval: 5 },
		);
		await checkpoint.flush();
	});

	it('checkpoint lookup: own result for the same hash, cache hit (when on) for another record, nothing for a stale hash', async () => {
		const store = await fresh();
		await store.writeBatch('job', [
			{ type: 'succeeded', result: result('done', 'h-done'), at: T0 },
			{ type: 'succeeded', result: result('stale', 'h-old'), at: T0 },
			{ type: 'failed', recordId: 'failed', promptHash: 'h-failed', error: itemError(), at: T0 },
		]);
		const cache = {};
		const writer = createCheckpoint(store, 'job', { clock: { now: () => Date.parse(T0) }, cache });
		writer.succeeded(result('x', 'h-shared', { text: 'shared' }));
		await writer.flush();
		const entries = [
			{ recordId: 'done', promptHash: 'h-done' },
			{ recordId: 'stale', promptHash: 'h-new' },
			{ recordId: 'failed', promptHash: 'h-failed' },
			{ recordId: 'twin', promptHash: 'h-shared' },
			{ recordId: 'new', promptHash: 'h-none' },
		];
		// Cache off (the default): only the record's own result.
		const plain = await createCheckpoint(store, 'job').lookup(entries);
		expect(plain.map((r) => r?.recordId)).toEqual([
			'done',
			undefined,
			undefined,
			undefined,
			undefined,
		]);
		const checkpoint = createCheckpoint(store, 'job', {
			clock: { now: () => Date.parse(T1) },
			cache,
		});
		const found = await checkpoint.lookup(entries);
		expect(found.map((r) => r?.recordId)).toEqual([
			'done',
			undefined,
			undefined,
			'twin',
			undefined,
		]);
		expect(found[0]).toEqual({ ...result('done', 'h-done'), cached: false });
		expect(found[3]).toEqual({
			...result('x', 'h-shared', { text: 'shared' }),
			recordId: 'twin',
			cached: true,
		});
		await checkpoint.flush();
		// The cache hit is now that record's own success.
		const twin = (await store.getMany('job', ['twin'])).get('twin');
		expect(twin).toMatchObject({ status: 'succeeded', promptHash: 'h-shared', updatedAt: T1 });
		expect(twin?.result?.cached).toBe(true);
	});

	it('group commit: 10,000 results become durable in a few transactions', async () => {
		const store = await fresh();
		let batches = 0;
		const writeBatch = store.writeBatch.bind(store);
		store.writeBatch = async (job, writes) => {
			batches++;
			return writeBatch(job, writes);
		};
		const checkpoint = createCheckpoint(store, 'bulk');
		// Results arrive over 100 event-loop turns, as responses would.
		for (let turn = 0; turn < 100; turn++) {
			for (let i = 0; i < 100; i++) {
				const id = `r${turn * 100 + i}`;
				checkpoint.started(id, `hash-${id}`);
				checkpoint.succeeded(result(id, `hash-${id}`));
			}
			await new Promise((resolve) => setImmediate(resolve));
		}
		await checkpoint.flush();
		const stats = await store.stats('bulk');
		expect({ total: stats.total, succeeded: stats.succeeded, attempts: stats.attempts }).toEqual({
			total: 10_000,
			succeeded: 10_000,
			attempts: 10_000,
		});
		// At most one commit per event-loop turn of arrivals (the cost is in commits, not rows).
		expect(batches).toBeLessThanOrEqual(100);
	});

	it('flush rejects with a store error when a commit fails, keeps the writes and commits them on the next flush', async () => {
		const store = await fresh();
		const writeBatch = store.writeBatch.bind(store);
		let failNext = 1;
		store.writeBatch = async (job, writes) => {
			if (failNext-- > 0)
				throw new LedgerStoreError(
					'store_locked',
					store.label,
					`Ledger store "${store.label}" is locked`,
				);
			return writeBatch(job, writes);
		};
		const reported: string[] = [];
		const checkpoint = createCheckpoint(store, 'job', { onError: (e) => reported.push(e.code) });
		checkpoint.started('a', 'h');
		checkpoint.succeeded(result('a', 'h'));
		await expect(checkpoint.flush()).rejects.toMatchObject({
			name: 'LedgerStoreError',
			code: 'store_locked',
		});
		expect(reported).toEqual(['store_locked']);
		expect(checkpoint.error?.code).toBe('store_locked');
		checkpoint.succeeded(result('b', 'h2'));
		await checkpoint.flush();
		expect(checkpoint.error).toBeUndefined();
		const records = await store.getMany('job', ['a', 'b']);
		expect([...records.values()].map((r) => [r.recordId, r.status, r.attempts])).toEqual([
			['a', 'succeeded', 1],
			['b', 'succeeded', 0],
		]);
	});
});
