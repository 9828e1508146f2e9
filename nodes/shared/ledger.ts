import type { IExecuteFunctions } from 'n8n-workflow';

import { openStore, type LedgerStore } from '../../core/ledger';

/**
 * The ledger store a node's parameters name: SQLite (a path, or the default file in the
 * n8n user folder) or PostgreSQL from the `llmBatchPostgresApi` credential.
 */
export async function ledgerStoreFor(
	ctx: IExecuteFunctions,
	kind: 'sqlite' | 'postgres',
	sqlitePath: string,
): Promise<LedgerStore> {
	if (kind === 'sqlite') {
		const store = openStore({ kind: 'sqlite', path: sqlitePath || undefined });
		await store.init();
		return store;
	}
	const c = await ctx.getCredentials('llmBatchPostgresApi');
	const sslMode = typeof c.ssl === 'string' ? c.ssl : c.ssl ? 'require' : 'disable';
	const store = openStore({
		kind: 'postgres',
		host: String(c.host ?? 'localhost'),
		port: Number(c.port ?? 5432),
		database: String(c.database ?? 'postgres'),
		user: String(c.user ?? 'postgres'),
		password: String(c.password ?? ''),
		ssl: sslMode === 'disable' ? false : sslMode === 'allow' || sslMode === 'require' ? { rejectUnauthorized: false } : true,
	});
	await store.init();
	return store;
}
