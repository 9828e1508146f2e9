/**
 * Stores whose tables sit beside a ledger store's records (the batch-job tables, the
 * heartbeats): one per ledger store, on its SQLite file (a connection of their own) or its
 * PostgreSQL pool, closed when the ledger store closes.
 */
import { PostgresLedgerStore } from './postgres';
import type { PostgresConnections } from './postgres-connections';
import { SqliteLedgerStore } from './sqlite';
import type { LedgerStore } from './types';

export interface CompanionStore {
	close(): Promise<void>;
}

export interface CompanionMakers<T extends CompanionStore> {
	sqlite(path: string, label: string): T;
	postgres(db: PostgresConnections): T;
}

/** The companion of `store` from `stores`, made (and tied to the store's close) on first use. */
export function companionOf<T extends CompanionStore>(
	stores: WeakMap<LedgerStore, T>,
	store: LedgerStore,
	make: CompanionMakers<T>,
): T {
	const known = stores.get(store);
	if (known) return known;
	let own: T;
	if (store instanceof SqliteLedgerStore) own = make.sqlite(store.path, store.label);
	else if (store instanceof PostgresLedgerStore) own = make.postgres(store.db);
	else throw new TypeError(`Expected a SQLite or PostgreSQL ledger store, got ${store.kind}`);
	stores.set(store, own);
	// It lives as long as its ledger store: closing the store closes it too (SQLite: its own
	// connection to the file, which would otherwise stay open until GC).
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
	return own;
}
