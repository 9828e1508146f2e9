import type { IExecuteFunctions } from 'n8n-workflow';

import { openStore, postgresConfigFromCredential, type LedgerStore } from '../../core/ledger';

/**
 * The ledger store a node's parameters name: SQLite (a path, or the default file in the
 * n8n user folder) or PostgreSQL from the `llmBatchPostgresApi` credential.
 */
export async function ledgerStoreFor(
	ctx: IExecuteFunctions,
	kind: 'sqlite' | 'postgres',
	sqlitePath: string,
): Promise<LedgerStore> {
	const store =
		kind === 'sqlite'
			? openStore({ kind: 'sqlite', path: sqlitePath || undefined })
			: openStore(postgresConfigFromCredential(await ctx.getCredentials('llmBatchPostgresApi')));
	await store.init();
	return store;
}
