import { mkdtempSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterEach, describe, expect, it } from 'vitest';

import {
	closeAllStores,
	createCheckpoint,
	defaultSqlitePath,
	openStore,
	postgresConfigFromCredential,
} from '../../../core/ledger';
import type { PostgresLedgerStore } from '../../../core/ledger/postgres';
import { LEDGER_POOL_SIZE } from '../../../core/ledger/postgres-connections';
import { createTestDatabase, testPostgresFromEnv } from '../../helpers/postgres';
import { result } from './fixtures';

afterEach(async () => {
	await closeAllStores();
});

describe('openStore', () => {
	it('shares one handle per SQLite file and opens another for another file', async () => {
		const dir = mkdtempSync(join(tmpdir(), 'ledger-open-'));
		const a = openStore({ kind: 'sqlite', path: join(dir, 'a.sqlite') });
		expect(openStore({ kind: 'sqlite', path: join(dir, '.', 'a.sqlite') })).toBe(a);
		expect(openStore({ kind: 'sqlite', path: join(dir, 'b.sqlite') })).not.toBe(a);
		expect(a.label).toBe(`SQLite ${join(dir, 'a.sqlite')}`);
		await a.init();
		await a.close();
		// Closed handles are forgotten: the next open is a fresh, usable store.
		const again = openStore({ kind: 'sqlite', path: join(dir, 'a.sqlite') });
		expect(again).not.toBe(a);
		await again.init();
		expect((await again.stats('x')).total).toBe(0);
	});

	it('keys Postgres stores without the password, and a changed password gets a new pool', () => {
		const pg = testPostgresFromEnv();
		const config = {
			kind: 'postgres' as const,
			host: pg.host,
			port: pg.port,
			database: pg.database,
			user: pg.user,
			password: pg.password,
		};
		const a = openStore(config);
		expect(openStore({ ...config })).toBe(a);
		expect(a.label).toBe(`PostgreSQL ${pg.user}@${pg.host}:${pg.port}/${pg.database}`);
		expect(a.label).not.toContain(pg.password);
		const b = openStore({ ...config, password: 'changed' });
		expect(b).not.toBe(a);
		expect(openStore({ ...config, password: 'changed' })).toBe(b);
	});

	it('ten executions at once in one worker share one pool: never more than LEDGER_POOL_SIZE connections, all closed at the end', async () => {
		const db = await createTestDatabase('pool');
		const config = { kind: 'postgres' as const, ...db };
		// What each execution of a chunk does: open the ledger from the credential.
		const opened = Array.from({ length: 10 }, () => openStore({ ...config }));
		expect(new Set(opened).size).toBe(1);
		const store = opened[0] as PostgresLedgerStore;
		let live = 0;
		let most = 0;
		store.pool.on('connect', () => (most = Math.max(most, ++live)));
		store.pool.on('remove', () => live--);
		await store.init();
		await Promise.all(
			opened.map(async (s, execution) => {
				const checkpoint = createCheckpoint(s, 'job');
				for (let i = 0; i < 20; i++) {
					checkpoint.succeeded(result(`e${execution}-r${i}`, 'h'));
					await new Promise((r) => setImmediate(r));
				}
				await checkpoint.flush();
			}),
		);
		const [row] = (
			await store.pool.query<{ n: string }>(
				`SELECT count(*) AS n FROM pg_stat_activity WHERE datname = $1 AND application_name = 'n8n-nodes-llm-batch'`,
				[db.database],
			)
		).rows;
		expect((await store.stats('job')).succeeded).toBe(200);
		expect(LEDGER_POOL_SIZE).toBe(4);
		expect(most).toBeGreaterThan(1);
		expect(most).toBeLessThanOrEqual(LEDGER_POOL_SIZE);
		expect(Number(row.n)).toBeLessThanOrEqual(LEDGER_POOL_SIZE);
		await closeAllStores();
		expect(store.pool.ended).toBe(true);
		expect(store.pool.totalCount).toBe(0);
	});

	it('puts the default SQLite file in the n8n user folder', () => {
		expect(defaultSqlitePath({ N8N_USER_FOLDER: '/data/n8n' })).toBe(
			'/data/n8n/.n8n/llm-batch-ledger.sqlite',
		);
		expect(defaultSqlitePath({})).toBe(join(homedir(), '.n8n', 'llm-batch-ledger.sqlite'));
	});

	it('maps the credential, SSL modes included', () => {
		const base = {
			host: ' db.internal ',
			port: 6543,
			database: 'ledger',
			user: 'n8n',
			password: 'pw',
		};
		expect(postgresConfigFromCredential({ ...base, ssl: 'disable' })).toEqual({
			kind: 'postgres',
			host: 'db.internal',
			port: 6543,
			database: 'ledger',
			user: 'n8n',
			password: 'pw',
			ssl: false,
		});
		expect(postgresConfigFromCredential({ ...base, ssl: 'require' }).ssl).toEqual({
			rejectUnauthorized: false,
		});
		expect(postgresConfigFromCredential({ ...base, ssl: 'allow' }).ssl).toEqual({
			rejectUnauthorized: false,
		});
		expect(postgresConfigFromCredential({ ...base, ssl: 'verify-full' }).ssl).toBe(true);
		expect(postgresConfigFromCredential({})).toMatchObject({
			host: 'localhost',
			port: 5432,
			database: 'postgres',
			user: 'postgres',
			password: '',
		});
	});
});
