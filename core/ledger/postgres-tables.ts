/**
 * Tables beside the ledger's records in the same PostgreSQL database, on the records store's
 * pool (which that store closes): created once under an advisory lock (several processes may
 * open the ledger at once), work run in one transaction. The batch-job store and the heartbeat
 * store build on it.
 */
import type { PoolClient } from 'pg';

import type { PostgresConnections, WorkOptions } from './postgres-connections';

export abstract class PostgresTables {
	private ready: Promise<void> | undefined;

	constructor(
		/** The records store's pool and its waiting (postgres-connections.ts). */
		protected readonly db: PostgresConnections,
		/** The DDL, idempotent. */
		private readonly schema: string,
		/** Serialises concurrent schema creation (same reason as the records store). */
		private readonly schemaLockKey: number,
	) {}

	protected get label(): string {
		return this.db.label;
	}

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

	/** `fn` in one transaction (run again whole after a failure that left nothing behind). */
	protected tx<T>(
		action: string,
		fn: (c: PoolClient) => Promise<T>,
		options?: WorkOptions,
	): Promise<T> {
		return this.db.transaction(action, fn, options);
	}

	async close(): Promise<void> {
		// The pool is the records store's: it closes it.
	}
}
