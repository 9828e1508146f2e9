/** Which heartbeat store sits next to a ledger store: the dialects' factory, apart from the interface. */
import { PostgresHeartbeatStore } from './postgres';
import { SqliteHeartbeatStore } from './sqlite';
import type { HeartbeatStore } from './types';
import { PostgresLedgerStore } from '../postgres';
import { SqliteLedgerStore } from '../sqlite';
import type { LedgerStore } from '../types';

export * from './types';

const stores = new WeakMap<LedgerStore, HeartbeatStore>();

/** The heartbeat tables next to a ledger store (same file or database), one per store. */
export function heartbeatStoreFor(store: LedgerStore): HeartbeatStore {
	let beats = stores.get(store);
	if (beats) return beats;
	if (store instanceof SqliteLedgerStore) beats = new SqliteHeartbeatStore(store.path, store.label);
	else if (store instanceof PostgresLedgerStore)
		beats = new PostgresHeartbeatStore(store.pool, store.label);
	else throw new TypeError(`Expected a SQLite or PostgreSQL ledger store, got ${store.kind}`);
	stores.set(store, beats);
	// Closed with their ledger store (SQLite: their own connection to the file).
	const own = beats;
	const close = store.close.bind(store);
	store.close = async () => {
		if (stores.get(store) === own) stores.delete(store);
		store.close = close;
		try {
			await own.close();
		} finally {
			await close();
		}
	};
	return beats;
}
