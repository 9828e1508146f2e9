import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import {
	NodeOperationError,
	type ICredentialsDecrypted,
	type ICredentialTestFunctions,
} from 'n8n-workflow';
import { afterAll, describe, expect, it } from 'vitest';

import { closeAllStores, openStore } from '../../core/ledger';
import type { LedgerWrite } from '../../core/ledger/types';
import { llmBatchPostgresConnectionTest } from '../../nodes/shared/credential-tests';
import { router } from '../../nodes/BatchLedger/actions/router';
import { itemError, result, T0 } from '../core/ledger/fixtures';
import { mockExecute, type MockOptions } from '../helpers/mock-execute';
import { createTestDatabase } from '../helpers/postgres';

afterAll(async () => {
	await closeAllStores();
});

function sqlitePath(): string {
	return join(mkdtempSync(join(tmpdir(), 'ledger-node-')), 'ledger.sqlite');
}

async function seed(path: string, job: string, writes: LedgerWrite[]): Promise<void> {
	const store = openStore({ kind: 'sqlite', path });
	await store.init();
	await store.writeBatch(job, writes);
}

async function stats(path: string, job: string) {
	const store = openStore({ kind: 'sqlite', path });
	await store.init();
	return await store.stats(job);
}

function run(
	path: string,
	parameters: Record<string, unknown>,
	options: Omit<MockOptions, 'parameters'> = {},
	now?: number,
) {
	const m = mockExecute({
		...options,
		parameters: { ledgerStore: 'sqlite', ledgerSqlitePath: path, ledgerJob: 'job', ...parameters },
	});
	return router(m.fns, now === undefined ? {} : { now: () => now });
}

const byId = (_i: number, item: { json: Record<string, unknown> }) => item.json.id;

describe('Batch Ledger: Skip Completed', () => {
	it('passes on records not yet succeeded and sends done ones to Completed with their stored result', async () => {
		const path = sqlitePath();
		await seed(path, 'job', [
			{ type: 'succeeded', result: result('a', 'ha'), at: T0 },
			{ type: 'failed', recordId: 'b', promptHash: 'hb', error: itemError(), at: T0 },
			{ type: 'started', recordId: 'c', promptHash: 'hc', at: T0 },
		]);
		const items = [
			{ id: 'a', text: 'A' },
			{ id: 'b', text: 'B' },
			{ id: 'c', text: 'C' },
			{ id: 'd', text: 'D' },
		];
		const out = await run(path, { operation: 'skipCompleted', recordId: byId }, { items });
		expect(out).toEqual([
			[
				{ json: { id: 'b', text: 'B' }, pairedItem: { item: 1 } },
				{ json: { id: 'c', text: 'C' }, pairedItem: { item: 2 } },
				{ json: { id: 'd', text: 'D' }, pairedItem: { item: 3 } },
			],
			[
				{
					json: { id: 'a', text: 'A', llm: { ...result('a', 'ha'), costUsd: 0.001 } },
					pairedItem: { item: 0 },
				},
			],
		]);
		// New records are registered as pending, so the job's stats count what is left.
		const s = await stats(path, 'job');
		expect({
			total: s.total,
			pending: s.pending,
			succeeded: s.succeeded,
			failed: s.failed,
			processing: s.processing,
		}).toEqual({
			total: 4,
			pending: 1,
			succeeded: 1,
			failed: 1,
			processing: 1,
		});
	});

	it('leaves Completed items unchanged when Add Stored Result is off, and registers nothing when asked', async () => {
		const path = sqlitePath();
		await seed(path, 'job', [{ type: 'succeeded', result: result('a', 'ha'), at: T0 }]);
		const out = await run(
			path,
			{ operation: 'skipCompleted', recordId: byId, includeResult: false, registerPending: false },
			{ items: [{ id: 'a' }, { id: 'new' }] },
		);
		expect(out).toEqual([
			[{ json: { id: 'new' }, pairedItem: { item: 1 } }],
			[{ json: { id: 'a' }, pairedItem: { item: 0 } }],
		]);
		expect((await stats(path, 'job')).total).toBe(1);
	});

	it('fails before writing anything when an item has no record ID', async () => {
		const path = sqlitePath();
		const promise = run(
			path,
			{ operation: 'skipCompleted', recordId: byId },
			{ items: [{ id: 'a' }, { text: 'no id' }] },
		);
		await expect(promise).rejects.toThrow(NodeOperationError);
		await expect(promise).rejects.toThrow('Item 1 has no record ID');
		expect((await stats(path, 'job')).total).toBe(0);
	});

	it('says what a broken Record ID resolved to', async () => {
		const path = sqlitePath();
		const error = await run(
			path,
			{ operation: 'skipCompleted', recordId: byId },
			{ items: [{ id: 'a' }, { id: { nested: 1 } }] },
		).catch((e: unknown) => e);
		expect(error).toBeInstanceOf(NodeOperationError);
		expect((error as NodeOperationError).description).toMatch(
			/^The Record ID expression resolved to an object \(\{"nested":1\}\)\. /,
		);
	});
});

describe('Batch Ledger: Record Results', () => {
	const success = (id: string, attempts = 1) => ({ id, llm: result(id, `h-${id}`, { attempts }) });
	const failure = (id: string) => ({ id, text: 'x', error: itemError('timeout', 3) });
	const recordId = (_i: number, item: { json: Record<string, unknown> }) =>
		(item.json.llm as { recordId?: string } | undefined)?.recordId ?? item.json.id;

	it('writes Success and Failed items, passes every item on, and counts reported attempts once', async () => {
		const path = sqlitePath();
		const items = [success('a', 2), failure('b'), success('c')];
		const out = await run(path, { operation: 'recordResults', recordId }, { items });
		expect(out).toEqual([items.map((json, i) => ({ json, pairedItem: { item: i } }))]);
		// Recording the same items again changes nothing.
		await run(path, { operation: 'recordResults', recordId }, { items });
		const store = openStore({ kind: 'sqlite', path });
		const records = await store.getMany('job', ['a', 'b', 'c']);
		expect(
			[...records.values()].map((r) => [
				r.recordId,
				r.status,
				r.attempts,
				r.lastError?.code ?? null,
			]),
		).toEqual([
			['a', 'succeeded', 2, null],
			['b', 'failed', 3, 'timeout'],
			['c', 'succeeded', 1, null],
		]);
		expect(records.get('a')?.result).toEqual(result('a', 'h-a', { attempts: 2 }));
	});

	it('a failure without a prompt hash does not replace a stored success', async () => {
		const path = sqlitePath();
		await run(path, { operation: 'recordResults', recordId }, { items: [success('a')] });
		await run(path, { operation: 'recordResults', recordId }, { items: [failure('a')] });
		const store = openStore({ kind: 'sqlite', path });
		expect((await store.getMany('job', ['a'])).get('a')?.status).toBe('succeeded');
	});

	it('rejects items that are neither a result nor an error, before recording anything', async () => {
		const path = sqlitePath();
		const promise = run(
			path,
			{ operation: 'recordResults', recordId },
			{ items: [success('a'), { id: 'b', text: 'raw input' }] },
		);
		await expect(promise).rejects.toThrow(
			'Item 1: neither a result in "llm" nor an error in "error"',
		);
		expect((await stats(path, 'job')).total).toBe(0);
	});
});

describe('Batch Ledger: reading and maintaining a job', () => {
	async function seeded(): Promise<string> {
		const path = sqlitePath();
		const writes: LedgerWrite[] = [];
		for (let i = 0; i < 2500; i++) {
			const id = `r${String(i).padStart(4, '0')}`;
			if (i % 100 === 0)
				writes.push({
					type: 'failed',
					recordId: id,
					promptHash: 'h',
					error: itemError('server_error'),
					at: T0,
				});
			else if (i % 250 === 1)
				writes.push({ type: 'started', recordId: id, promptHash: 'h', at: T0 });
			else writes.push({ type: 'succeeded', result: result(id, `h${i}`), at: T0 });
		}
		await seed(path, 'job', writes);
		await seed(path, 'other', [
			{ type: 'failed', recordId: 'x', promptHash: 'h', error: itemError(), at: T0 },
		]);
		return path;
	}

	it('Get Failed returns one item per failed record of the job, all or up to a limit', async () => {
		const path = await seeded();
		const [all] = await run(path, { operation: 'getFailed' }, { items: [{}] });
		expect(all).toHaveLength(25);
		expect(all.every((i) => i.json.status === 'failed' && i.json.job === 'job')).toBe(true);
		expect(all[0]).toEqual({
			json: {
				job: 'job',
				recordId: 'r0000',
				status: 'failed',
				attempts: 0,
				promptHash: 'h',
				lastError: itemError('server_error'),
				result: null,
				createdAt: T0,
				updatedAt: T0,
			},
			pairedItem: { item: 0 },
		});
		const [some] = await run(
			path,
			{ operation: 'getFailed', returnAll: false, limit: 3 },
			{ items: [{}] },
		);
		expect(some.map((i) => i.json.recordId)).toEqual(['r0000', 'r0100', 'r0200']);
	});

	it('Export Job pages through every record, or one status', async () => {
		const path = await seeded();
		const [all] = await run(path, { operation: 'exportJob' }, { items: [{}] });
		expect(all).toHaveLength(2500);
		expect(new Set(all.map((i) => i.json.recordId)).size).toBe(2500);
		const [succeeded] = await run(
			path,
			{ operation: 'exportJob', status: 'succeeded' },
			{ items: [{}] },
		);
		const [processing] = await run(
			path,
			{ operation: 'exportJob', status: 'processing' },
			{ items: [{}] },
		);
		const [failed] = await run(
			path,
			{ operation: 'exportJob', status: 'failed', returnAll: false, limit: 1500 },
			{ items: [{}] },
		);
		expect(succeeded.length + processing.length + failed.length).toBe(2500);
		expect(processing).toHaveLength(10);
	});

	it('Job Stats returns one item whose counts add up', async () => {
		const path = await seeded();
		const [[item]] = await run(path, { operation: 'stats' }, { items: [{}, {}] });
		expect(item.pairedItem).toEqual({ item: 0 });
		expect(item.json).toMatchObject({
			job: 'job',
			total: 2500,
			succeeded: 2465,
			failed: 25,
			processing: 10,
			pending: 0,
		});
		expect(item.json.errorsByCode).toEqual({ server_error: 25 });
	});

	it('Requeue Stale lists or requeues processing records older than the age', async () => {
		const path = await seeded();
		const oneHourLater = Date.parse(T0) + 60 * 60_000;
		const [listed] = await run(
			path,
			{ operation: 'requeueStale', olderThanMinutes: 30, requeue: false },
			{ items: [{}] },
			oneHourLater,
		);
		expect(listed.map((i) => i.json.status)).toEqual(Array(10).fill('processing'));
		const [none] = await run(
			path,
			{ operation: 'requeueStale', olderThanMinutes: 90 },
			{ items: [{}] },
			oneHourLater,
		);
		expect(none).toEqual([]);
		const [requeued] = await run(
			path,
			{ operation: 'requeueStale', olderThanMinutes: 30 },
			{ items: [{}] },
			oneHourLater,
		);
		expect(requeued.map((i) => [i.json.recordId, i.json.status])).toEqual(
			listed.map((i) => [i.json.recordId, 'pending']),
		);
		expect((await stats(path, 'job')).processing).toBe(0);
	});

	it('Delete Job removes the job and reports how many records it had', async () => {
		const path = await seeded();
		const out = await run(path, { operation: 'deleteJob' }, { items: [{}] });
		expect(out).toEqual([
			[
				{
					json: { job: 'job', deleted: 2500, deletedBatches: 0, deletedFiles: 0 },
					pairedItem: { item: 0 },
				},
			],
		]);
		expect((await stats(path, 'job')).total).toBe(0);
		expect((await stats(path, 'other')).total).toBe(1);
	});
});

describe('Batch Ledger: configuration and store errors', () => {
	it('an empty job name is a configuration error', async () => {
		await expect(
			run(sqlitePath(), { operation: 'stats', ledgerJob: '  ' }, { items: [{}] }),
		).rejects.toThrow('Invalid configuration: Job Name is empty');
	});

	it('a file that is not a ledger gives a clear error naming the store', async () => {
		const path = sqlitePath();
		writeFileSync(path, 'this is a text file, not a database '.repeat(200));
		const promise = run(path, { operation: 'stats' }, { items: [{}] });
		await expect(promise).rejects.toThrow(NodeOperationError);
		await expect(promise).rejects.toThrow(
			`Ledger store "SQLite ${path}" could not be opened: file is not a database`,
		);
	});

	it('works on PostgreSQL through the credential, and a wrong password names the store, not the password', async () => {
		const db = await createTestDatabase('node');
		const credentials = {
			llmBatchPostgresApi: {
				host: db.host,
				port: db.port,
				database: db.database,
				user: db.user,
				password: db.password,
				ssl: 'disable',
			},
		};
		const parameters = {
			ledgerStore: 'postgres',
			ledgerJob: 'pg-job',
			operation: 'recordResults',
			recordId: byId,
		};
		const m = mockExecute({
			items: [{ id: 'a', llm: result('a', 'ha') }],
			parameters,
			credentials,
		});
		await router(m.fns);
		const m2 = mockExecute({
			items: [{}],
			parameters: { ...parameters, operation: 'stats' },
			credentials,
		});
		const [[item]] = await router(m2.fns);
		expect(item.json).toMatchObject({ job: 'pg-job', total: 1, succeeded: 1 });

		const wrong = {
			llmBatchPostgresApi: { ...credentials.llmBatchPostgresApi, password: 'not-the-password-XYZ' },
		};
		const m3 = mockExecute({
			items: [{}],
			parameters: { ...parameters, operation: 'stats' },
			credentials: wrong,
		});
		const error = await router(m3.fns).then(
			() => undefined,
			(e: Error) => e,
		);
		expect(error).toBeInstanceOf(NodeOperationError);
		expect(error?.message).toContain(
			`Ledger store "PostgreSQL ${db.user}@${db.host}:${db.port}/${db.database}" could not be opened`,
		);
		expect(error?.message).toContain('password authentication failed');
		expect(
			JSON.stringify({
				message: error?.message,
				description: (error as NodeOperationError).description,
			}),
		).not.toContain('not-the-password-XYZ');
	});
});

describe('PostgreSQL ledger credential test', () => {
	const test = (data: Record<string, unknown>) =>
		llmBatchPostgresConnectionTest.call(
			{} as ICredentialTestFunctions,
			{ id: '1', name: 'pg', type: 'llmBatchPostgresApi', data } as ICredentialsDecrypted,
		);

	it('connects and creates the tables with the right password', async () => {
		const db = await createTestDatabase('cred');
		const answer = await test({
			host: db.host,
			port: db.port,
			database: db.database,
			user: db.user,
			password: db.password,
			ssl: 'disable',
		});
		expect(answer).toEqual({ status: 'OK', message: 'Connection tested successfully' });
	});

	it('reports a wrong password without repeating it', async () => {
		const db = await createTestDatabase('cred');
		const answer = await test({
			host: db.host,
			port: db.port,
			database: db.database,
			user: db.user,
			password: 'wrong-SECRET-42',
			ssl: 'disable',
		});
		expect(answer.status).toBe('Error');
		expect(answer.message).toContain('password authentication failed for user "postgres"');
		expect(answer.message).not.toContain('wrong-SECRET-42');
	});

	it('says at once that the server refuses connections (a run would wait that out, the Test button does not)', async () => {
		const { createServer } = await import('node:net');
		const server = createServer();
		await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
		const { port } = server.address() as { port: number };
		await new Promise((r) => server.close(r));
		const answer = await test({
			host: '127.0.0.1',
			port,
			database: 'ledger',
			user: 'n8n',
			password: 'pw',
			ssl: 'disable',
		});
		expect(answer.status).toBe('Error');
		expect(answer.message).toContain(`connection refused (connect ECONNREFUSED 127.0.0.1:${port})`);
		expect(answer.message).not.toContain('still after waiting');
	});
});

describe('Batch Ledger: Job Stats with Claim the Job Report', () => {
	it('gives the report to exactly one of the executions that see the job complete, none while open', async () => {
		const path = sqlitePath();
		await seed(path, 'job', [
			{ type: 'pending', recordId: 'a', at: T0 },
			{ type: 'succeeded', result: result('b', 'hb'), at: T0 },
		]);
		const claim = async () =>
			(await run(path, { operation: 'stats', claimReport: true }))[0][0].json;
		expect(await claim()).toMatchObject({ total: 2, pending: 1, reportClaimed: false });
		await seed(path, 'job', [{ type: 'succeeded', result: result('a', 'ha'), at: T0 }]);
		const seen = await Promise.all([claim(), claim(), claim()]);
		expect(seen.map((s) => s.reportClaimed).sort()).toEqual([false, false, true]);
		// the claim lives beside the job: its stats are unchanged
		expect(await stats(path, 'job')).toMatchObject({ total: 2, succeeded: 2, processing: 0 });
		expect((await run(path, { operation: 'stats' }))[0][0].json).not.toHaveProperty(
			'reportClaimed',
		);
	});
});

describe('Batch Ledger: Job Stats for a job whose chunks register their own records', () => {
	it('marks this chunk done; complete, and the report claimed, only after the last chunk', async () => {
		const path = sqlitePath();
		const chunk = async (n: number, ids: string[]) => {
			await seed(
				path,
				'job',
				ids.map((id) => ({ type: 'succeeded', result: result(id, `h${id}`), at: T0 })),
			);
			return await run(
				path,
				{ operation: 'stats', claimReport: true, jobChunks: 2, chunk: String(n) },
				{ items: [{}] },
			);
		};
		const first = await chunk(0, ['a', 'b']);
		expect(first).toEqual([
			[
				{
					json: expect.objectContaining({
						job: 'job',
						total: 2,
						succeeded: 2,
						chunks: 2,
						chunksDone: 1,
						complete: false,
						reportClaimed: false,
					}),
					pairedItem: { item: 0 },
				},
			],
		]);
		const last = (await chunk(1, ['c']))[0][0].json;
		expect(last).toMatchObject({ total: 3, chunksDone: 2, complete: true, reportClaimed: true });
	});

	it('Chunks in the Job without This Chunk is a configuration error', async () => {
		await expect(
			run(sqlitePath(), { operation: 'stats', jobChunks: 3, chunk: ' ' }, { items: [{}] }),
		).rejects.toThrow('This Chunk is empty');
	});

	it('Delete Job also forgets the chunk marks and the report claim', async () => {
		const path = sqlitePath();
		await seed(path, 'job', [{ type: 'succeeded', result: result('a', 'ha'), at: T0 }]);
		const stat = { operation: 'stats', claimReport: true, jobChunks: 1, chunk: '0' };
		expect((await run(path, stat, { items: [{}] }))[0][0].json.reportClaimed).toBe(true);
		await run(path, { operation: 'deleteJob' }, { items: [{}] });
		expect((await stats(path, 'job#chunks')).total).toBe(0);
		expect((await stats(path, 'job#report')).total).toBe(0);
		await seed(path, 'job', [{ type: 'succeeded', result: result('a', 'ha'), at: T0 }]);
		expect((await run(path, stat, { items: [{}] }))[0][0].json).toMatchObject({
			chunksDone: 1,
			reportClaimed: true,
		});
	});
});
