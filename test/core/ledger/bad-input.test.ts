/**
 * Bad stores: each gives a clear error that names the store (never the password), and no
 * result handed to a checkpoint is dropped — a failed commit keeps its writes for the next
 * flush.
 */
import { mkdtempSync, openSync, writeFileSync, writeSync, closeSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createCheckpoint } from '../../../core/ledger/checkpoint';
import { LedgerStoreError } from '../../../core/ledger/errors';
import { PostgresLedgerStore } from '../../../core/ledger/postgres';
import { SqliteLedgerStore } from '../../../core/ledger/sqlite';
import type { LedgerWrite } from '../../../core/ledger/types';
import {
	startPostgres,
	startServer,
	stopPostgres,
	stopServer,
	testPostgresFromEnv,
	type TestPostgres,
} from '../../helpers/postgres';
import { result, T0 } from './fixtures';

function tempFile(name = 'ledger.sqlite'): string {
	return join(mkdtempSync(join(tmpdir(), 'ledger-bad-')), name);
}

async function openError(store: { init(): Promise<void> }): Promise<LedgerStoreError> {
	const error = await store.init().then(
		() => undefined,
		(e: unknown) => e,
	);
	expect(error).toBeInstanceOf(LedgerStoreError);
	return error as LedgerStoreError;
}

describe('SQLite store: bad files', () => {
	it('a file that is not a database: store_corrupt, naming the file', async () => {
		const path = tempFile();
		writeFileSync(path, 'id,text\n1,hello\n'.repeat(500));
		const error = await openError(new SqliteLedgerStore({ kind: 'sqlite', path }));
		expect(error.code).toBe('store_corrupt');
		expect(error.message).toMatch(
			new RegExp(
				`^Ledger store "SQLite ${path}" could not be opened: file is not a database — the file is damaged`,
			),
		);
	});

	it('a database with damaged pages: store_corrupt before any work', async () => {
		const path = tempFile();
		const store = new SqliteLedgerStore({ kind: 'sqlite', path });
		await store.init();
		const writes: LedgerWrite[] = [];
		for (let i = 0; i < 3000; i++)
			writes.push({ type: 'succeeded', result: result(`r${i}`, `h${i}`), at: T0 });
		await store.writeBatch('job', writes);
		await store.close(); // checkpoints the WAL into the main file
		const size = statSync(path).size;
		const fd = openSync(path, 'r+');
		// Garbage over the middle of the file, leaving the 100-byte header intact.
		writeSync(fd, Buffer.alloc(16 * 4096, 0x5a), 0, 16 * 4096, Math.floor(size / 2 / 4096) * 4096);
		closeSync(fd);
		const error = await openError(new SqliteLedgerStore({ kind: 'sqlite', path }));
		expect(error.code).toBe('store_corrupt');
		expect(error.message).toContain(`Ledger store "SQLite ${path}" could not be opened:`);
	});

	it('a folder that cannot hold the file: store_unavailable', async () => {
		const blocker = tempFile('not-a-folder');
		writeFileSync(blocker, 'x');
		const error = await openError(
			new SqliteLedgerStore({ kind: 'sqlite', path: join(blocker, 'ledger.sqlite') }),
		);
		expect(error.code).toBe('store_unavailable');
		expect(error.message).toContain(
			`Ledger store "SQLite ${join(blocker, 'ledger.sqlite')}" could not be opened`,
		);
	});

	it('a file locked by another process at open: store_locked after the busy timeout', async () => {
		const path = tempFile();
		const holder = new DatabaseSync(path);
		holder.exec('CREATE TABLE other (x); BEGIN EXCLUSIVE; INSERT INTO other VALUES (1);');
		try {
			const error = await openError(
				new SqliteLedgerStore({ kind: 'sqlite', path, busyTimeoutMs: 100 }),
			);
			expect(error.code).toBe('store_locked');
			expect(error.message).toContain(
				`Ledger store "SQLite ${path}" could not be opened: database is locked`,
			);
		} finally {
			holder.exec('ROLLBACK');
			holder.close();
		}
	});

	it('a lock during the run: flush rejects with store_locked, and the results commit once the lock is gone', async () => {
		const path = tempFile();
		const store = new SqliteLedgerStore({ kind: 'sqlite', path, busyTimeoutMs: 100 });
		await store.init();
		const checkpoint = createCheckpoint(store, 'job');
		checkpoint.succeeded(result('before', 'h0'));
		await checkpoint.flush();

		const holder = new DatabaseSync(path);
		holder.exec('BEGIN IMMEDIATE');
		for (let i = 0; i < 50; i++) checkpoint.succeeded(result(`r${i}`, `h${i}`));
		await expect(checkpoint.flush()).rejects.toMatchObject({
			code: 'store_locked',
			message: expect.stringContaining(
				`Ledger store "SQLite ${path}" could not write results: database is locked`,
			),
		});
		// More results arrive while the store is still locked: kept too.
		checkpoint.succeeded(result('late', 'h-late'));
		holder.exec('ROLLBACK');
		holder.close();
		await checkpoint.flush();
		const stats = await store.stats('job');
		expect({ total: stats.total, succeeded: stats.succeeded }).toEqual({
			total: 52,
			succeeded: 52,
		});
		await store.close();
	});
});

describe('PostgreSQL store: bad servers and credentials', () => {
	it('a wrong password: store_auth, naming user@host:port/database and not the password', async () => {
		const pg = testPostgresFromEnv();
		const store = new PostgresLedgerStore({
			kind: 'postgres',
			...pg,
			password: 'definitely-WRONG-pw',
		});
		const error = await openError(store);
		await store.close();
		expect(error.code).toBe('store_auth');
		expect(error.message).toBe(
			`Ledger store "PostgreSQL postgres@127.0.0.1:${pg.port}/${pg.database}" could not be opened: password authentication failed for user "postgres" — check the user name and password of the PostgreSQL credential`,
		);
		expect(JSON.stringify({ ...error, message: error.message, stack: error.stack })).not.toContain(
			'definitely-WRONG-pw',
		);
	});

	it('an unreachable server: store_unavailable with "connection refused", not a timeout', async () => {
		const pg = testPostgresFromEnv();
		// A port nobody listens on: the test server's port + 1 is bound by nothing we started.
		const { createServer } = await import('node:net');
		const port = await new Promise<number>((resolve) => {
			const s = createServer().listen(0, '127.0.0.1', () => {
				const p = (s.address() as { port: number }).port;
				s.close(() => resolve(p));
			});
		});
		const store = new PostgresLedgerStore({
			kind: 'postgres',
			...pg,
			port,
			connectionTimeoutMs: 3000,
			// The message is under test here; the wait for a server that comes back, in postgres-wait.test.ts.
			maxWaitMs: 0,
		});
		const error = await openError(store);
		await store.close();
		// "connection refused" (below), not the 3 s connection timeout's message: it did not wait.
		expect(error.code).toBe('store_unavailable');
		expect(error.message).toMatch(
			new RegExp(
				`^Ledger store "PostgreSQL postgres@127\\.0\\.0\\.1:${port}/${pg.database}" could not be opened: connection refused`,
			),
		);
		expect(error.message).not.toContain(pg.password);
	});

	it('a database that does not exist: store_unavailable naming it', async () => {
		const pg = testPostgresFromEnv();
		const store = new PostgresLedgerStore({ kind: 'postgres', ...pg, database: 'no_such_db' });
		const error = await openError(store);
		await store.close();
		expect(error.code).toBe('store_unavailable');
		expect(error.message).toContain('could not be opened: database "no_such_db" does not exist');
	});

	describe('a server that dies during the run', () => {
		let own: TestPostgres;
		beforeAll(async () => {
			own = await startPostgres();
		});
		afterAll(() => {
			if (own) stopPostgres(own);
		});

		it('flush rejects with store_unavailable and commits every result after the server is back', async () => {
			const store = new PostgresLedgerStore({
				kind: 'postgres',
				...own,
				connectionTimeoutMs: 2000,
				// A server down for longer than the run waits (postgres-wait.test.ts: one that comes back).
				maxWaitMs: 0,
			});
			await store.init();
			const checkpoint = createCheckpoint(store, 'job');
			for (let i = 0; i < 10; i++) checkpoint.succeeded(result(`a${i}`, `ha${i}`));
			await checkpoint.flush();

			stopServer(own);
			for (let i = 0; i < 10; i++) checkpoint.succeeded(result(`b${i}`, `hb${i}`));
			const error = await checkpoint.flush().then(
				() => undefined,
				(e: unknown) => e as LedgerStoreError,
			);
			expect(error).toBeInstanceOf(LedgerStoreError);
			expect(error?.code).toBe('store_unavailable');
			expect(error?.message).toContain(
				`Ledger store "PostgreSQL postgres@127.0.0.1:${own.port}/postgres" could not write results`,
			);

			startServer(own);
			await checkpoint.flush();
			const stats = await store.stats('job');
			expect({ total: stats.total, succeeded: stats.succeeded }).toEqual({
				total: 20,
				succeeded: 20,
			});
			await store.close();
		});
	});
});
