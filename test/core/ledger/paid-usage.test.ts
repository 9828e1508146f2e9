/**
 * The job's cost is every execution's paid usage, once: a record that failed after paying
 * for unusable answers and later succeeds (or fails again) keeps what the first execution
 * paid, and a re-ask that carries that usage in its own result is not counted twice. Both
 * stores, and ledgers created before the prior-usage columns existed.
 */
import { mkdtempSync } from 'node:fs';
import { DatabaseSync } from 'node:sqlite';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { Client } from 'pg';
import { describe, expect, it } from 'vitest';

import { createCheckpoint } from '../../../core/ledger/checkpoint';
import { PostgresLedgerStore } from '../../../core/ledger/postgres';
import { RECORDS_TABLE } from '../../../core/ledger/sql';
import { SqliteLedgerStore } from '../../../core/ledger/sqlite';
import type { LedgerStore } from '../../../core/ledger/types';
import type { ItemError } from '../../../core/types';
import { createTestDatabase } from '../../helpers/postgres';
import {
	T0,
	T1,
	T2,
	T3,
	postgresFactory,
	result,
	sqliteFactory,
	type StoreFactory,
	openedStores,
} from './fixtures';

const until = (ms: number) => new Date(Date.parse(T0) + ms).toISOString();

/** An answer paid for but unusable (a schema violation after its re-asks). */
function paidFailure(inputTokens: number, outputTokens: number, costUsd: number): ItemError {
	return {
		code: 'schema_violation',
		message: 'the answer broke the schema',
		retryable: false,
		attempts: 2,
		usage: { inputTokens, outputTokens },
		costUsd,
	};
}

describe.each([sqliteFactory, postgresFactory] as StoreFactory[])(
	'paid usage across executions: $name',
	(factory) => {
		const { fresh } = openedStores(factory);

		/** Execution 1: claimed, paid, failed. */
		async function failedRecord(store: LedgerStore, id: string, error: ItemError) {
			await store.claim('job', [{ recordId: id, promptHash: 'h' }], 'exec-1', T0, until(60_000));
			await store.writeBatch('job', [
				{ type: 'failed', recordId: id, promptHash: 'h', error, at: T0 },
			]);
		}

		it('a failure that a fresh call of a later execution replaces keeps its cost and tokens in the job totals', async () => {
			const store = await fresh();
			await failedRecord(store, 'a', paidFailure(100, 40, 0.5));
			await failedRecord(store, 'b', paidFailure(10, 4, 0.25));
			expect(await store.stats('job')).toMatchObject({
				failed: 2,
				inputTokens: 110,
				outputTokens: 44,
				costUsd: 0.75,
			});
			// Execution 2: a fresh call of each (no usage carried), one succeeds, one fails again.
			const claims = await store.claim(
				'job',
				[
					{ recordId: 'a', promptHash: 'h' },
					{ recordId: 'b', promptHash: 'h' },
				],
				'exec-2',
				T1,
				until(120_000),
			);
			expect([...claims.values()]).toEqual([{ status: 'claimed' }, { status: 'claimed' }]);
			// Renewing the lease (every attempt claims again) keeps nothing apart a second time.
			await store.claim('job', [{ recordId: 'a', promptHash: 'h' }], 'exec-2', T1, until(120_000));
			await store.writeBatch('job', [
				{
					type: 'succeeded',
					result: result('a', 'h', { usage: { inputTokens: 20, outputTokens: 8 }, costUsd: 2 }),
					at: T2,
				},
				{ type: 'failed', recordId: 'b', promptHash: 'h', error: paidFailure(1, 1, 1), at: T2 },
			]);
			const records = await store.getMany('job', ['a', 'b']);
			expect(records.get('a')).toMatchObject({ status: 'succeeded', lastError: null });
			expect(await store.stats('job')).toMatchObject({
				succeeded: 1,
				failed: 1,
				inputTokens: 100 + 20 + 10 + 1,
				outputTokens: 40 + 8 + 4 + 1,
				costUsd: 0.5 + 2 + 0.25 + 1,
			});
		});

		it('a re-ask whose result carries the failed answer’s usage is counted once', async () => {
			const store = await fresh();
			await failedRecord(store, 'a', paidFailure(100, 40, 0.5));
			await store.claim(
				'job',
				[{ recordId: 'a', promptHash: 'h', priorIncluded: true }],
				'exec-2',
				T1,
				until(120_000),
			);
			// The re-ask's result: its own turn plus the earlier answer's usage and cost.
			await store.writeBatch('job', [
				{
					type: 'succeeded',
					result: result('a', 'h', {
						usage: { inputTokens: 130, outputTokens: 50 },
						costUsd: 0.75,
					}),
					at: T2,
				},
			]);
			expect(await store.stats('job')).toMatchObject({
				succeeded: 1,
				inputTokens: 130,
				outputTokens: 50,
				costUsd: 0.75,
			});
		});

		it('a checkpoint passes the re-ask flag through to its claims', async () => {
			const store = await fresh();
			await failedRecord(store, 'a', paidFailure(100, 40, 0.5));
			await failedRecord(store, 'b', paidFailure(100, 40, 0.5));
			const cp = createCheckpoint(store, 'job', { clock: { now: () => Date.parse(T1) } });
			expect(await Promise.all([cp.claim('a', 'h', true), cp.claim('b', 'h')])).toEqual([
				{ status: 'claimed' },
				{ status: 'claimed' },
			]);
			cp.succeeded(result('a', 'h', { usage: { inputTokens: 0, outputTokens: 0 }, costUsd: 0 }));
			cp.succeeded(result('b', 'h', { usage: { inputTokens: 0, outputTokens: 0 }, costUsd: 0 }));
			await cp.flush();
			// a's earlier cost was said to be in its result (0 here): only b's is kept apart.
			expect(await store.stats('job')).toMatchObject({
				inputTokens: 100,
				outputTokens: 40,
				costUsd: 0.5,
			});
		});

		it('a failed record started by a batch job or requeued keeps what it paid', async () => {
			const store = await fresh();
			await failedRecord(store, 'a', paidFailure(100, 40, 0.5));
			await failedRecord(store, 'b', paidFailure(10, 4, 0.25));
			await store.markProcessing('job', [{ recordId: 'a', promptHash: 'h' }], T1);
			expect(await store.requeue('job', ['b'], T1)).toBe(1);
			// Claimed again while pending: nothing more to keep apart.
			await store.claim('job', [{ recordId: 'b', promptHash: 'h' }], 'exec-3', T2, until(300_000));
			await store.writeBatch('job', [
				{ type: 'succeeded', result: result('a', 'h', { costUsd: 1 }), at: T3 },
				{ type: 'succeeded', result: result('b', 'h', { costUsd: 1 }), at: T3 },
			]);
			expect(await store.stats('job')).toMatchObject({
				succeeded: 2,
				inputTokens: 100 + 10 + 10 + 10,
				outputTokens: 40 + 4 + 5 + 5,
				costUsd: 0.5 + 0.25 + 2,
			});
		});

		/** A checkpoint with the response cache on, at `at`. */
		const cacheCheckpoint = (store: LedgerStore, at: string) =>
			createCheckpoint(store, 'job', {
				clock: { now: () => Date.parse(at) },
				cache: {},
			});

		it('a response-cache hit counts as nothing spent; its result keeps what the answer cost', async () => {
			const store = await fresh();
			const cp = cacheCheckpoint(store, T0);
			expect(await cp.claim('a', 'h')).toEqual({ status: 'claimed' });
			cp.succeeded(result('a', 'h', { usage: { inputTokens: 100, outputTokens: 40 }, costUsd: 1 }));
			await cp.flush();
			// Another record with the same prompt: served from the cache, no call.
			const [hit] = await cp.lookup([{ recordId: 'b', promptHash: 'h' }]);
			await cp.flush();
			expect(hit).toMatchObject({ recordId: 'b', cached: true, costUsd: 1 });
			const b = (await store.getMany('job', ['b'])).get('b');
			expect(b).toMatchObject({ status: 'succeeded' });
			expect(b?.result).toMatchObject({
				cached: true,
				costUsd: 1,
				usage: { inputTokens: 100, outputTokens: 40 },
			});
			expect(await store.stats('job')).toMatchObject({
				succeeded: 2,
				inputTokens: 100,
				outputTokens: 40,
				costUsd: 1,
			});
		});

		it('a response-cache hit on a record still failed from an earlier execution keeps what the failure paid', async () => {
			const store = await fresh();
			await failedRecord(store, 'b', paidFailure(100, 40, 0.5));
			const cp = cacheCheckpoint(store, T1);
			expect(await cp.claim('a', 'h')).toEqual({ status: 'claimed' });
			cp.succeeded(result('a', 'h', { usage: { inputTokens: 20, outputTokens: 8 }, costUsd: 2 }));
			await cp.flush();
			// Execution 2 looks b up before any claim: the hit replaces b's failure.
			const [hit] = await cp.lookup([{ recordId: 'b', promptHash: 'h' }]);
			await cp.flush();
			expect(hit).toMatchObject({ recordId: 'b', cached: true });
			const b = (await store.getMany('job', ['b'])).get('b');
			expect(b).toMatchObject({ status: 'succeeded', lastError: null });
			expect(await store.stats('job')).toMatchObject({
				succeeded: 2,
				failed: 0,
				inputTokens: 20 + 100,
				outputTokens: 8 + 40,
				costUsd: 2 + 0.5,
			});
		});

		it('a final write without a claim counts the failure it replaces once: the same failure recorded again (Batch Ledger) is not kept apart', async () => {
			const store = await fresh();
			await failedRecord(store, 'a', paidFailure(100, 40, 0.5));
			// Record Results writes the item's error — the failure the row already holds.
			await store.writeBatch('job', [
				{
					type: 'failed',
					recordId: 'a',
					promptHash: 'h',
					error: paidFailure(100, 40, 0.5),
					at: T1,
				},
			]);
			expect(await store.stats('job')).toMatchObject({
				failed: 1,
				inputTokens: 100,
				outputTokens: 40,
				costUsd: 0.5,
			});
		});

		it('a start and a final write committed in one group keep what the failure paid, as one by one', async () => {
			const store = await fresh();
			await failedRecord(store, 'a', paidFailure(100, 40, 0.5));
			await failedRecord(store, 'b', paidFailure(10, 4, 0.25));
			await store.writeBatch('job', [
				{ type: 'started', recordId: 'a', promptHash: 'h', at: T1 },
				{ type: 'started', recordId: 'b', promptHash: 'h', at: T1 },
				{ type: 'failed', recordId: 'a', promptHash: 'h', error: paidFailure(1, 1, 1), at: T2 },
				{ type: 'succeeded', result: result('b', 'h', { costUsd: 2 }), at: T2 },
			]);
			expect(await store.stats('job')).toMatchObject({
				failed: 1,
				succeeded: 1,
				inputTokens: 100 + 1 + 10 + 10,
				outputTokens: 40 + 1 + 4 + 5,
				costUsd: 0.5 + 1 + 0.25 + 2,
			});
		});
	},
);

/** The records table as the first releases created it: no leases, no prior usage. */
const OLD_TABLE = (json: string, time: string) => `
CREATE TABLE ${RECORDS_TABLE} (
	job TEXT NOT NULL,
	record_id TEXT NOT NULL,
	status TEXT NOT NULL,
	attempts INTEGER NOT NULL DEFAULT 0,
	prompt_hash TEXT NOT NULL DEFAULT '',
	last_error ${json},
	result ${json},
	created_at ${time} NOT NULL,
	updated_at ${time} NOT NULL,
	PRIMARY KEY (job, record_id)
)`;
const OLD_ROW = `INSERT INTO ${RECORDS_TABLE} VALUES ('job', 'a', 'failed', 1, 'h',
	'{"code":"schema_violation","message":"x","retryable":false,"attempts":1,"usage":{"inputTokens":100,"outputTokens":40},"costUsd":0.5}',
	NULL, '${T0}', '${T0}')`;

/** Opens the old ledger, claims the failed record, stores a success: both costs count. */
async function upgradeAndRun(store: LedgerStore): Promise<void> {
	try {
		await store.init();
		expect(await store.stats('job')).toMatchObject({ failed: 1, costUsd: 0.5, inputTokens: 100 });
		await store.claim('job', [{ recordId: 'a', promptHash: 'h' }], 'new', T1, until(120_000));
		await store.writeBatch('job', [
			{ type: 'succeeded', result: result('a', 'h', { costUsd: 1 }), at: T2 },
		]);
		expect(await store.stats('job')).toMatchObject({
			succeeded: 1,
			inputTokens: 110,
			outputTokens: 45,
			costUsd: 1.5,
		});
	} finally {
		await store.close();
	}
}

describe('a ledger created before the prior-usage columns', () => {
	it('SQLite: opening it adds the columns; its failed records keep what they paid', async () => {
		const path = join(mkdtempSync(join(tmpdir(), 'ledger-old-')), 'old.sqlite');
		const old = new DatabaseSync(path);
		old.exec(OLD_TABLE('TEXT', 'TEXT'));
		old.exec(OLD_ROW);
		old.close();
		await upgradeAndRun(new SqliteLedgerStore({ kind: 'sqlite', path }));
	});

	it('PostgreSQL: opening it adds the columns; its failed records keep what they paid', async () => {
		const db = await createTestDatabase('ledger_old');
		const client = new Client(db);
		await client.connect();
		try {
			await client.query(OLD_TABLE('JSONB', 'TIMESTAMPTZ'));
			await client.query(OLD_ROW);
		} finally {
			await client.end();
		}
		await upgradeAndRun(new PostgresLedgerStore({ kind: 'postgres', ...db }));
	});
});
