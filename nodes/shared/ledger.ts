import { NodeOperationError, type IExecuteFunctions } from 'n8n-workflow';

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

/**
 * The ledger, or none when the node runs without one. A ledger that cannot open stops the run
 * before any call: running without it would pay again for work already done.
 */
export async function openLedgerOrStop(
	ctx: IExecuteFunctions,
	kind: 'sqlite' | 'postgres' | 'none',
	sqlitePath: string,
): Promise<LedgerStore | undefined> {
	if (kind === 'none') return undefined;
	try {
		return await ledgerStoreFor(ctx, kind, sqlitePath);
	} catch (e) {
		throw new NodeOperationError(ctx.getNode(), (e as Error).message, {
			description: 'The ledger could not be opened; nothing was sent.',
		});
	}
}
