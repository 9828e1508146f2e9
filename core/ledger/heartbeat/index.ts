/** Which heartbeat store sits next to a ledger store: the dialects' factory, apart from the interface. */
import { PostgresHeartbeatStore } from './postgres';
import { SqliteHeartbeatStore } from './sqlite';
import type { HeartbeatStore } from './types';
import { companionOf } from '../companion';
import type { LedgerStore } from '../types';

export * from './types';

const stores = new WeakMap<LedgerStore, HeartbeatStore>();

/** The heartbeat tables next to a ledger store (same file or database), one per store. */
export function heartbeatStoreFor(store: LedgerStore): HeartbeatStore {
	return companionOf(stores, store, {
		sqlite: (path, label) => new SqliteHeartbeatStore(path, label),
		postgres: (db) => new PostgresHeartbeatStore(db),
	});
}
