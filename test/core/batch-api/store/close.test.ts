/**
 * The batch tables' own SQLite connection closes with its ledger store: no file handle on
 * the ledger is left behind (Linux: counted in /proc/self/fd).
 */
import { mkdtempSync, readdirSync, readlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

import { openStore } from '../../../../core/ledger';
import { batchStoreFor } from '../../../../core/batch-api/store/factory';

/** Open descriptors of this process on the ledger file or its -wal / -shm companions. */
function handlesOn(path: string): number {
	let n = 0;
	for (const fd of readdirSync('/proc/self/fd')) {
		try {
			if (readlinkSync(`/proc/self/fd/${fd}`).startsWith(path)) n++;
		} catch {
			// closed between the listing and the read
		}
	}
	return n;
}

describe.runIf(process.platform === 'linux')('batch store lifetime', () => {
	it('closing the ledger store closes the batch tables’ connection; a reopen gets a fresh one', async () => {
		const path = join(mkdtempSync(join(tmpdir(), 'batch-close-')), 'ledger.sqlite');
		const store = openStore({ kind: 'sqlite', path });
		await store.init();
		const alone = handlesOn(path);
		const batches = batchStoreFor(store);
		await batches.init();
		expect(handlesOn(path)).toBeGreaterThan(alone);
		await store.close();
		expect(handlesOn(path)).toBe(0);

		const again = openStore({ kind: 'sqlite', path });
		await again.init();
		const fresh = batchStoreFor(again);
		expect(fresh).not.toBe(batches);
		await fresh.init();
		expect(await fresh.batches('job')).toEqual([]);
		await again.close();
		expect(handlesOn(path)).toBe(0);
	});
});
