/**
 * Each submitted record's item and request are kept once, apart from its entry: SQLite and
 * PostgreSQL. An entry written by an older version (item and request in the entry row itself)
 * still reads back whole; a new one keeps them only in the payload table, so moving an entry to
 * its batch and marking it emitted never rewrites them.
 */
import { DatabaseSync } from 'node:sqlite';

import { describe, expect, it } from 'vitest';

import { batchStoreFor } from '../../../../core/batch-api/store/factory';
import type { BatchEntry } from '../../../../core/batch-api/store/batches';
import { ENTRIES_TABLE, PAYLOADS_TABLE } from '../../../../core/batch-api/store/sql';
import { PostgresLedgerStore } from '../../../../core/ledger/postgres';
import { SqliteLedgerStore } from '../../../../core/ledger/sqlite';
import type { LedgerStore } from '../../../../core/ledger/types';
import {
	T0,
	openedStores,
	postgresFactory,
	sqliteFactory,
	type StoreFactory,
} from '../../ledger/fixtures';

const big = 'x'.repeat(50_000);

function entry(recordId: string, batchId: string): BatchEntry {
	return {
		recordId,
		customId: `abcdefghijkl-${recordId}`,
		batchId,
		promptHash: `h-${recordId}`,
		request: JSON.stringify({
			model: 'gpt-4o-mini',
			prompt: `p ${recordId}`,
			maxTokens: 5,
			schema: { type: 'object' },
		}),
		item: JSON.stringify({ id: recordId, text: big }),
		itemIndex: 0,
		round: 1,
		emitted: false,
		submittedAt: T0,
	};
}

/** Runs SQL on the store's database directly (as an older version would have written). */
async function raw(
	store: LedgerStore,
	sql: string,
	params: Array<string | number>,
): Promise<unknown[]> {
	if (store instanceof SqliteLedgerStore) {
		const db = new DatabaseSync(store.path);
		try {
			const stmt = db.prepare(sql);
			return /^\s*select/i.test(sql) ? stmt.all(...params) : [stmt.run(...params)];
		} finally {
			db.close();
		}
	}
	const pg = store as PostgresLedgerStore;
	let n = 0;
	return (
		await pg.pool.query(
			sql.replace(/\?/g, () => `$${++n}`),
			params,
		)
	).rows;
}

describe.each([sqliteFactory, postgresFactory] as StoreFactory[])(
	'batch entry payloads: $name',
	(factory) => {
		const stores = openedStores(factory);

		it('a new entry keeps its item and request in the payload table only; every read gives them back', async () => {
			const store = await stores.fresh();
			const batches = batchStoreFor(store);
			await batches.init();
			await batches.addPending('job', 'pending:abcdefghijkl:x', [
				entry('r1', 'pending:abcdefghijkl:x'),
			]);
			const rows = (await raw(store, `SELECT request, item FROM ${ENTRIES_TABLE} WHERE job = ?`, [
				'job',
			])) as Array<{
				request: string;
				item: string;
			}>;
			expect(rows).toEqual([{ request: '', item: '' }]);
			const payloads = await raw(store, `SELECT record_id FROM ${PAYLOADS_TABLE} WHERE job = ?`, [
				'job',
			]);
			expect(payloads).toHaveLength(1);
			const want = entry('r1', 'pending:abcdefghijkl:x');
			expect((await batches.entries('job', ['r1'])).get('r1')).toEqual(want);
			expect(await batches.unemittedEntries('job', 'pending:abcdefghijkl:x', 10)).toEqual([want]);
			const joined = await batches.entriesByCustomId('job', 'pending:abcdefghijkl:x', [
				want.customId,
			]);
			expect(joined.get(want.customId)?.answer).toEqual({
				model: 'gpt-4o-mini',
				maxTokens: 5,
				schema: '{"type":"object"}',
			});
			expect(joined.get(want.customId)?.item).toBe(want.item);
			expect(await batches.deleteJob('job')).toEqual({ batches: 0, files: 0 });
			expect(
				await raw(store, `SELECT record_id FROM ${PAYLOADS_TABLE} WHERE job = ?`, ['job']),
			).toEqual([]);
		});

		it("an older version's entry (item and request in the entry row) reads back whole", async () => {
			const store = await stores.fresh();
			const batches = batchStoreFor(store);
			await batches.init();
			const old = entry('r7', 'batch_old');
			await raw(
				store,
				`INSERT INTO ${ENTRIES_TABLE} (job, record_id, custom_id, batch_id, prompt_hash, request, item, item_index, round, emitted, submitted_at)
			 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
				[
					'job',
					old.recordId,
					old.customId,
					old.batchId,
					old.promptHash,
					old.request,
					old.item,
					0,
					1,
					0,
					T0,
				],
			);
			expect((await batches.entries('job', ['r7'])).get('r7')).toEqual(old);
			expect(await batches.listEntries('job', '', 10)).toEqual([old]);
			const joined = await batches.entriesByCustomId('job', 'batch_old', [old.customId]);
			expect(joined.get(old.customId)?.answer.model).toBe('gpt-4o-mini');
		});
	},
);
