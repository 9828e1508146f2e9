import type {
	ICredentialsDecrypted,
	ICredentialTestFunctions,
	INodeCredentialTestResult,
} from 'n8n-workflow';

import {
	createRedisClient,
	describeRedisFailure,
	redisConfigFromCredential,
} from '../../core/call/limiter/redis-connection';
import { RedisLimitStore } from '../../core/call/limiter/redis-store';
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
		// The Test button answers at once: a run waits out a busy database, a test says so.
		maxWaitMs: 0,
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

/**
 * Tests the `llmBatchRedisApi` credential: connects, authenticates, selects the database and
 * runs the limiter's script on a throw-away key — exactly what a run needs, so a server that
 * forbids scripts (some managed offerings) fails here and not mid-run. A fresh connection,
 * not the shared one, so a fixed password is seen at once.
 */
export async function llmBatchRedisConnectionTest(
	this: ICredentialTestFunctions,
	credential: ICredentialsDecrypted,
): Promise<INodeCredentialTestResult> {
	const cfg = redisConfigFromCredential(credential.data ?? {});
	const client = createRedisClient(cfg, {
		retryStrategy: () => null,
	});
	let reason: Error | undefined;
	client.on('error', (e: Error) => (reason ??= e));
	try {
		await client.connect();
		await new RedisLimitStore(client, { idleTtlMs: 1000 }).take(
			'credential-test',
			{ rpm: 1, tpm: 1 },
			0,
		);
		return { status: 'OK', message: 'Connection tested successfully' };
	} catch (error) {
		return { status: 'Error', message: `Redis: ${describeRedisFailure(reason ?? error, cfg)}` };
	} finally {
		client.disconnect();
	}
}
