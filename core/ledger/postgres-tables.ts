/**
 * Tables beside the ledger's records in the same PostgreSQL database, on the records store's
 * pool (which that store closes): created once under an advisory lock (several processes may
 * open the ledger at once), work run in one transaction. The batch-job store and the heartbeat
 * store build on it.
 */
import type { Pool, PoolClient } from 'pg';

import { fromPostgresError } from './errors';

export abstract class PostgresTables {
	private ready: Promise<void> | undefined;

	constructor(
		protected readonly pool: Pool,
		protected readonly label: string,
		/** The DDL, idempotent. */
		private readonly schema: string,
		/** Serialises concurrent schema creation (same reason as the records store). */
		private readonly schemaLockKey: number,
	) {}

	init(): Promise<void> {
		this.ready ??= this.tx('be opened', async (c) => {
			await c.query('SELECT pg_advisory_xact_lock($1)', [this.schemaLockKey]);
			await c.query(this.schema);
		}).catch((e: unknown) => {
			this.ready = undefined;
			throw e;
		});
		return this.ready;
	}

	/** `fn` in one transaction; a client whose transaction failed is dropped, not reused. */
	protected async tx<T>(action: string, fn: (c: PoolClient) => Promise<T>): Promise<T> {
		let client: PoolClient;
		try {
			client = await this.pool.connect();
		} catch (error) {
			throw fromPostgresError(error, this.label, action);
		}
		// A connection that breaks while idle in the pool must not crash the process.
		const ignore = () => undefined;
		client.on('error', ignore);
		let failed = false;
		try {
			await client.query('BEGIN');
			const v = await fn(client);
			await client.query('COMMIT');
			return v;
		} catch (error) {
			failed = true;
			await client.query('ROLLBACK').catch(() => undefined);
			throw fromPostgresError(error, this.label, action);
		} finally {
			client.off('error', ignore);
			client.release(failed);
		}
	}

	async close(): Promise<void> {
		// The pool is the records store's: it closes it.
	}
}
