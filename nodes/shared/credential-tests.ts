import type {
	ICredentialsDecrypted,
	ICredentialTestFunctions,
	INodeCredentialTestResult,
} from 'n8n-workflow';

import { postgresConfigFromCredential } from '../../core/ledger';
import { PostgresLedgerStore } from '../../core/ledger/postgres';

/**
 * Tests the `llmBatchPostgresApi` credential: connects and creates the ledger tables, exactly
 * what a run does first — so "Connection tested successfully" also proves the user may create
 * tables. A fresh pool, not the cached one, so a fixed password is seen at once.
 */
export async function llmBatchPostgresConnectionTest(
	this: ICredentialTestFunctions,
	credential: ICredentialsDecrypted,
): Promise<INodeCredentialTestResult> {
	const store = new PostgresLedgerStore({
		...postgresConfigFromCredential(credential.data ?? {}),
		maxConnections: 1,
		connectionTimeoutMs: 10_000,
	});
	try {
		await store.init();
		return { status: 'OK', message: 'Connection tested successfully' };
	} catch (error) {
		return { status: 'Error', message: (error as Error).message };
	} finally {
		await store.close().catch(() => undefined);
	}
}
