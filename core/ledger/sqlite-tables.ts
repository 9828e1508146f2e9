/**
 * Tables beside the ledger's records in the same SQLite file, on a connection of their own
 * (WAL lets several connections share the file): opened with their own lock wait and set-up,
 * statements prepared once, work run in one IMMEDIATE transaction when asked. The batch-job
 * store and the heartbeat store build on it.
 */
import type { DatabaseSync, StatementSync } from 'node:sqlite';

import { fromSqliteError } from './errors';

// Loaded lazily so that merely importing the package on an older Node does not fail.
export function loadSqlite(): typeof import('node:sqlite') {
	// eslint-disable-next-line @typescript-eslint/no-require-imports
	return require('node:sqlite') as typeof import('node:sqlite');
}

export abstract class SqliteTables {
	protected db: DatabaseSync | undefined;
	private readonly statements = new Map<string, StatementSync>();

	constructor(
		protected readonly path: string,
		protected readonly label: string,
		/** How long a write waits for another connection's lock before it fails. */
		private readonly lockWaitMs: number,
	) {}

	/** Creates the tables (and adds columns an older ledger lacks) on a freshly opened file. */
	protected abstract setUp(db: DatabaseSync): void;

	async init(): Promise<void> {
		if (this.db) return;
		try {
			const { DatabaseSync } = loadSqlite();
			const db = new DatabaseSync(this.path, { timeout: this.lockWaitMs });
			db.exec('PRAGMA journal_mode = WAL');
			db.exec('PRAGMA synchronous = NORMAL');
			this.setUp(db);
			this.db = db;
		} catch (error) {
			throw fromSqliteError(error, this.label, 'be opened');
		}
	}

	protected stmt(sql: string): StatementSync {
		if (!this.db) throw fromSqliteError(new Error('not open'), this.label, 'be used');
		let s = this.statements.get(sql);
		if (!s) {
			s = this.db.prepare(sql);
			this.statements.set(sql, s);
		}
		return s;
	}

	protected run<T>(action: string, fn: () => T, transaction = false): T {
		const db = this.db;
		try {
			if (!db) throw new Error('the store is not open (call init() first)');
			if (!transaction) return fn();
			db.exec('BEGIN IMMEDIATE');
			try {
				const v = fn();
				db.exec('COMMIT');
				return v;
			} catch (e) {
				if (db.isTransaction) db.exec('ROLLBACK');
				throw fromSqliteError(e, this.label, action);
			}
		} catch (error) {
			throw fromSqliteError(error, this.label, action);
		}
	}

	async close(): Promise<void> {
		this.statements.clear();
		const db = this.db;
		this.db = undefined;
		if (db?.isOpen) db.close();
	}
}
