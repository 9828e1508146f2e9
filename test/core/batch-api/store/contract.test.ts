/**
 * The batch-job tables (LLM Batch Job) next to the ledger: one contract, SQLite and
 * PostgreSQL. Kept in its own file beside store-contract.test.ts (the records contract).
 */
import { DatabaseSync } from 'node:sqlite';

import { describe, expect, it } from 'vitest';

import {
	parsePendingId,
	pendingBatchId,
	type BatchEntry,
	type BatchRow,
	BATCHES_TABLE,
} from '../../../../core/batch-api/store/batches';
import { batchStoreFor } from '../../../../core/batch-api/store/factory';
import { PostgresLedgerStore } from '../../../../core/ledger/postgres';
import { SqliteLedgerStore } from '../../../../core/ledger/sqlite';
import {
	T0,
	T1,
	T2,
	openedStores,
	postgresFactory,
	sqliteFactory,
	type StoreFactory,
} from '../../ledger/fixtures';

const factories: StoreFactory[] = [sqliteFactory, postgresFactory];

function batch(job: string, batchId: string, extra: Partial<BatchRow> = {}): BatchRow {
	return {
		job,
		batchId,
		provider: 'openai',
		model: 'gpt-4o-mini',
		state: 'in_progress',
		providerStatus: 'in_progress',
		requestCount: 2,
		counts: { total: 2, processing: 2, succeeded: 0, errored: 0, canceled: 0, expired: 0 },
		round: 1,
		createdAt: T0,
		expiresAt: T2,
		endedAt: null,
		collectedAt: null,
		updatedAt: T0,
		...extra,
	};
}

const SCHEMA = {
	type: 'object',
	properties: { label: { type: 'string', enum: ['a', 'b'] } },
	required: ['label'],
};

function entry(recordId: string, batchId: string, extra: Partial<BatchEntry> = {}): BatchEntry {
	return {
		recordId,
		customId: recordId,
		batchId,
		promptHash: `h-${recordId}`,
		request: JSON.stringify({ model: 'gpt-4o-mini', prompt: `p ${recordId}`, maxTokens: 5 }),
		item: JSON.stringify({ id: recordId, text: 'héllo ✓' }),
		itemIndex: Number(recordId.replace(/\D/g, '')) || 0,
		round: 1,
		emitted: false,
		submittedAt: T0,
		...extra,
	};
}

describe.each(factories)('batch job store contract: $name', (factory) => {
	const stores = openedStores(factory);
	async function fresh() {
		const store = await stores.fresh();
		const batches = batchStoreFor(store);
		await batches.init();
		return { store, batches };
	}

	it('records a batch with its entries; reads them back by record, by batch and in pages', async () => {
		const { batches } = await fresh();
		await batches.addBatch(batch('job', 'b1'), [entry('r1', 'b1'), entry('r2', 'b1')]);
		await batches.addBatch(batch('other', 'b9'), [entry('r1', 'b9')]);
		expect(await batches.batches('job')).toEqual([batch('job', 'b1')]);
		expect(await batches.entries('job', ['r1', 'r3'])).toEqual(
			new Map([['r1', entry('r1', 'b1')]]),
		);
		expect(await batches.batchEntries('job', 'b1')).toEqual([entry('r1', 'b1'), entry('r2', 'b1')]);
		expect(await batches.listEntries('job', 'r1', 10)).toEqual([entry('r2', 'b1')]);
		expect(await batches.listEntries('job', '', 1)).toEqual([entry('r1', 'b1')]);
	});

	it('a record submitted again points at its new batch; emitted flags and the batch state update', async () => {
		const { batches } = await fresh();
		await batches.addBatch(batch('job', 'b1'), [entry('r1', 'b1'), entry('r2', 'b1')]);
		await batches.markEmitted('job', ['r1', 'r2']);
		const counts = { total: 2, processing: 0, succeeded: 1, errored: 1, canceled: 0, expired: 0 };
		await batches.updateBatch(
			'job',
			'b1',
			{ state: 'ended', providerStatus: 'completed', counts, endedAt: T1 },
			T1,
		);
		await batches.updateBatch('job', 'b1', { collectedAt: T2 }, T2);
		await batches.addBatch(batch('job', 'b2', { round: 2, createdAt: T1 }), [
			entry('r2', 'b2', { round: 2, submittedAt: T1 }),
		]);
		expect(await batches.batches('job', { uncollected: true })).toEqual([
			batch('job', 'b2', { round: 2, createdAt: T1 }),
		]);
		expect((await batches.batches('job'))[0]).toEqual(
			batch('job', 'b1', {
				state: 'ended',
				providerStatus: 'completed',
				counts,
				endedAt: T1,
				collectedAt: T2,
				updatedAt: T2,
			}),
		);
		expect(await batches.batchEntries('job', 'b1')).toEqual([entry('r1', 'b1', { emitted: true })]);
		expect(await batches.batchEntries('job', 'b2')).toEqual([
			entry('r2', 'b2', { round: 2, submittedAt: T1 }),
		]);
	});

	it('joins by custom ID within one batch, and pages through what is not emitted yet', async () => {
		const { batches } = await fresh();
		await batches.addBatch(batch('job', 'b1'), [
			entry('r1', 'b1', { customId: 'c1' }),
			entry('r2', 'b1', { customId: 'c2' }),
			entry('r3', 'b1', {
				customId: 'c3',
				request: JSON.stringify({
					model: 'gpt-4o-mini',
					prompt: 'p r3',
					schema: SCHEMA,
					maxTokens: 5,
				}),
			}),
		]);
		await batches.addBatch(batch('job', 'b2'), [entry('r4', 'b2', { customId: 'c4' })]);
		await batches.addBatch(batch('other', 'b1'), [entry('r1', 'b1', { customId: 'c1' })]);
		// Read without the request: what reading the answer needs instead (the schema as JSON text).
		const { request: _r1, ...r1 } = entry('r1', 'b1', { customId: 'c1' });
		const { request: _r3, ...r3 } = entry('r3', 'b1', { customId: 'c3' });
		expect(await batches.entriesByCustomId('job', 'b1', ['c3', 'c1', 'c4', 'nope'])).toEqual(
			new Map([
				[
					'c3',
					{ ...r3, answer: { model: 'gpt-4o-mini', maxTokens: 5, schema: JSON.stringify(SCHEMA) } },
				],
				['c1', { ...r1, answer: { model: 'gpt-4o-mini', maxTokens: 5, schema: null } }],
			]),
		);
		expect(await batches.entriesByCustomId('job', 'b1', [])).toEqual(new Map());
		await batches.markEmitted('job', ['r2']);
		const first = await batches.unemittedEntries('job', 'b1', 1);
		expect(first).toHaveLength(1);
		await batches.markEmitted(
			'job',
			first.map((e) => e.recordId),
		);
		const second = await batches.unemittedEntries('job', 'b1', 10);
		expect([...first, ...second].map((e) => e.recordId).sort()).toEqual(['r1', 'r3']);
		await batches.markEmitted(
			'job',
			second.map((e) => e.recordId),
		);
		expect(await batches.unemittedEntries('job', 'b1', 10)).toEqual([]);
		expect(await batches.unemittedEntries('other', 'b1', 10)).toEqual([
			entry('r1', 'b1', { customId: 'c1' }),
		]);
	});

	it('a submission intent: pending until adopted into its batch (idempotent) or abandoned (records free again)', async () => {
		const { batches } = await fresh();
		const p1 = pendingBatchId('k1', 'host|1|p|e');
		const p2 = pendingBatchId('k2', 'host|1|p|e');
		expect(parsePendingId(p1)).toEqual({ key: 'k1', owner: 'host|1|p|e' });
		expect(parsePendingId('b1')).toBeUndefined();
		await batches.addPending('job', p1, [entry('r1', p1), entry('r2', p1)]);
		await batches.addPending('job', p2, [entry('r3', p2, { submittedAt: T1 })]);
		// A grouped request's records are one request line: 3 records of one group + 1 alone = 2.
		const p3 = pendingBatchId('k3', 'host|1|p|e');
		await batches.addPending('job', p3, [
			...['r4', 'r5', 'r6'].map((r, k) => entry(r, p3, { customId: `k3-g3_0~${k}` })),
			entry('r7', p3, { customId: 'k3-r7' }),
		]);
		expect(
			(await batches.pending('job')).sort((a, b) => a.pendingId.localeCompare(b.pendingId)),
		).toEqual([
			{ pendingId: p1, count: 2, requests: 2, submittedAt: T0 },
			{ pendingId: p2, count: 1, requests: 1, submittedAt: T1 },
			{ pendingId: p3, count: 4, requests: 2, submittedAt: T0 },
		]);
		await batches.abandonPending('job', p3);
		await batches.adoptPending('job', p1, batch('job', 'b1'));
		await batches.adoptPending('job', p1, batch('job', 'b1'));
		expect(await batches.batches('job')).toEqual([batch('job', 'b1')]);
		expect(await batches.batchEntries('job', 'b1')).toEqual([entry('r1', 'b1'), entry('r2', 'b1')]);
		await batches.abandonPending('job', p2);
		expect(await batches.pending('job')).toEqual([]);
		expect((await batches.entries('job', ['r3'])).get('r3')?.emitted).toBe(true);
	});

	it('a provisional adoption: listed until confirmed, or un-adopted (row gone, records free); owned IDs seen across jobs', async () => {
		const { batches } = await fresh();
		const p1 = pendingBatchId('k1', 'host|1|p|e');
		const p2 = pendingBatchId('k2', 'host|1|p|e');
		await batches.addPending('job', p1, [entry('r1', p1), entry('r2', p1)]);
		await batches.addPending('job', p2, [entry('r3', p2)]);
		await batches.adoptPending('job', p1, batch('job', 'b1'), { provisional: true });
		await batches.adoptPending('job', p2, batch('job', 'b2'), { provisional: true });
		await batches.addBatch(batch('other', 'b9'), [entry('r1', 'b9')]);
		expect(await batches.provisional('job')).toEqual(['b1', 'b2']);
		expect(await batches.provisional('other')).toEqual([]);
		expect(await batches.ownedBatchIds(['b1', 'b9', 'b7'])).toEqual(new Set(['b1', 'b9']));
		expect(await batches.ownedBatchIds([])).toEqual(new Set());

		await batches.confirmAdoption('job', 'b1');
		expect(await batches.provisional('job')).toEqual(['b2']);
		expect(await batches.batchEntries('job', 'b1')).toEqual([entry('r1', 'b1'), entry('r2', 'b1')]);

		await batches.unadopt('job', 'b2');
		expect(await batches.provisional('job')).toEqual([]);
		expect((await batches.batches('job')).map((b) => b.batchId)).toEqual(['b1']);
		expect(await batches.batchEntries('job', 'b2')).toEqual([]);
		const r3 = (await batches.entries('job', ['r3'])).get('r3');
		expect(r3?.emitted).toBe(true);
		expect(r3?.batchId).toBe('abandoned:k2:host|1|p|e');
		// Un-adopting a confirmed batch does nothing: only a provisional one can be dropped.
		await batches.unadopt('job', 'b1');
		expect((await batches.batches('job')).map((b) => b.batchId)).toEqual(['b1']);
		expect(await batches.ownedBatchIds(['b2'])).toEqual(new Set());
	});

	it("deleteJob forgets the job's batches and entries, not other jobs'", async () => {
		const { batches } = await fresh();
		await batches.addBatch(batch('job', 'b1'), [entry('r1', 'b1')]);
		await batches.addBatch(batch('other', 'b2'), [entry('r1', 'b2')]);
		expect(await batches.deleteJob('job')).toEqual({ batches: 1, files: 0 });
		expect(await batches.batches('job')).toEqual([]);
		expect(await batches.entries('job', ['r1'])).toEqual(new Map());
		expect(await batches.batchEntries('other', 'b2')).toEqual([entry('r1', 'b2')]);
	});

	it('collect lease: compare-and-set; a takeover or a release unpublishes what the holder published; finish publishes only while every lease is held', async () => {
		const { batches } = await fresh();
		await batches.addBatch(batch('job', 'b1'), [entry('r1', 'b1'), entry('r2', 'b1')]);
		await batches.addBatch(batch('job', 'b2'), [entry('r3', 'b2')]);
		const take = (batchId: string, owner: string, previous: string | null) =>
			batches.takeCollectLease('job', batchId, { owner, until: T1, previous });
		expect(await take('b1', 'A', null)).toBe(true);
		expect(await take('b1', 'B', null)).toBe(false);
		expect((await batches.batches('job'))[0]).toMatchObject({
			collectOwner: 'A',
			collectUntil: T1,
		});
		await batches.markPublishing('job', ['r1']);
		expect((await batches.entries('job', ['r1'])).get('r1')?.emitted).toBe(true);
		expect(await batches.unemittedEntries('job', 'b1', 10)).toEqual([entry('r2', 'b1')]);
		// B takes A's unreleased lease over: what A published is free again.
		expect(await take('b1', 'B', 'A')).toBe(true);
		expect((await batches.unemittedEntries('job', 'b1', 10)).map((e) => e.recordId).sort()).toEqual(
			['r1', 'r2'],
		);
		expect(await batches.renewCollectLeases('job', 'A', T2)).toBe(0);
		expect(await batches.renewCollectLeases('job', 'B', T2)).toBe(1);
		// A finishing now (it holds nothing any more) changes nothing.
		expect(
			await batches.finishCollect('job', { owner: 'A', held: 1, collected: ['b1'], at: T2 }),
		).toBe(false);
		await batches.markPublishing('job', ['r1', 'r2']);
		expect(await take('b2', 'B', null)).toBe(true);
		await batches.markPublishing('job', ['r3']);
		await batches.releaseCollect('job', 'B');
		expect(await batches.unemittedEntries('job', 'b2', 10)).toEqual([entry('r3', 'b2')]);
		expect(await take('b1', 'C', null)).toBe(true);
		expect(await batches.unemittedEntries('job', 'b1', 10)).toHaveLength(2);
		await batches.markPublishing('job', ['r1', 'r2']);
		expect(
			await batches.finishCollect('job', { owner: 'C', held: 1, collected: ['b1'], at: T2 }),
		).toBe(true);
		const [b1, b2] = await batches.batches('job');
		expect(b1).toEqual(batch('job', 'b1', { collectedAt: T2, updatedAt: T2 }));
		expect(b2).toEqual(batch('job', 'b2'));
		expect((await batches.entries('job', ['r1', 'r2'])).get('r2')?.emitted).toBe(true);
		// A collected batch cannot be taken again.
		expect(await take('b1', 'D', null)).toBe(false);
		expect(await batches.jobNames(10)).toEqual(['job']);
	});

	it('a ledger written before collect leases gets their columns when it is opened', async () => {
		const store = await stores.fresh();
		const old = `CREATE TABLE ${BATCHES_TABLE} (job TEXT NOT NULL, batch_id TEXT NOT NULL, provider TEXT NOT NULL,
			model TEXT NOT NULL, state TEXT NOT NULL, provider_status TEXT NOT NULL, request_count INTEGER NOT NULL,
			counts TEXT, round INTEGER NOT NULL, created_at TEXT NOT NULL, expires_at TEXT, ended_at TEXT,
			collected_at TEXT, updated_at TEXT NOT NULL, PRIMARY KEY (job, batch_id))`;
		if (store instanceof SqliteLedgerStore) {
			const db = new DatabaseSync(store.path);
			db.exec(old);
			db.close();
		} else await (store as PostgresLedgerStore).pool.query(old);
		const batches = batchStoreFor(store);
		await batches.init();
		await batches.addBatch(batch('job', 'b1'), [entry('r1', 'b1')]);
		expect(
			await batches.takeCollectLease('job', 'b1', { owner: 'A', until: T1, previous: null }),
		).toBe(true);
	});

	it('the batch tables live beside the records: a second handle on the same database sees them', async () => {
		const { store, batches } = await fresh();
		await batches.addBatch(batch('job', 'b1'), [entry('r1', 'b1')]);
		const other = await stores.second(store);
		expect(await batchStoreFor(other).batchEntries('job', 'b1')).toEqual([entry('r1', 'b1')]);
	});
});
