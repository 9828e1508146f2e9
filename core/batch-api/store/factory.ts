/** Which batch-job store sits next to a ledger store: the dialects' factory, apart from the interface. */
import type { BatchJobStore } from './batches';
import { PostgresBatchStore } from './postgres';
import { SqliteBatchStore } from './sqlite';
import { PostgresLedgerStore } from '../../ledger/postgres';
import { SqliteLedgerStore } from '../../ledger/sqlite';
import type { LedgerStore } from '../../ledger/types';

const stores = new WeakMap<LedgerStore, BatchJobStore>();

/** The batch tables next to a ledger store (same file or database), one per store. */
export function batchStoreFor(store: LedgerStore): BatchJobStore {
	let batch = stores.get(store);
	if (batch) return batch;
	if (store instanceof SqliteLedgerStore) batch = new SqliteBatchStore(store.path, store.label);
	else if (store instanceof PostgresLedgerStore)
		batch = new PostgresBatchStore(store.pool, store.label);
	else throw new TypeError(`Expected a SQLite or PostgreSQL ledger store, got ${store.kind}`);
	stores.set(store, batch);
	// The batch tables live as long as their ledger store: closing the store closes them too
	// (SQLite: their own connection to the file, which would otherwise stay open until GC).
	const own = batch;
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
	return batch;
}
