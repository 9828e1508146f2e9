/** Which batch-job store sits next to a ledger store: the dialects' factory, apart from the interface. */
import type { BatchJobStore } from './batches';
import { PostgresBatchStore } from './postgres';
import { SqliteBatchStore } from './sqlite';
import { companionOf } from '../../ledger/companion';
import type { LedgerStore } from '../../ledger/types';

const stores = new WeakMap<LedgerStore, BatchJobStore>();

/** The batch tables next to a ledger store (same file or database), one per store. */
export function batchStoreFor(store: LedgerStore): BatchJobStore {
	return companionOf(stores, store, {
		sqlite: (path, label) => new SqliteBatchStore(path, label),
		postgres: (db) => new PostgresBatchStore(db),
	});
}
