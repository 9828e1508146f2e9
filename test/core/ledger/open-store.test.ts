import { mkdtempSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterEach, describe, expect, it } from 'vitest';

import {
	closeAllStores,
	defaultSqlitePath,
	openStore,
	postgresConfigFromCredential,
} from '../../../core/ledger';
import { testPostgresFromEnv } from '../../helpers/postgres';

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
