import { describe, expect, it } from 'vitest';

import { createCheckpoint } from '../../../core/ledger/checkpoint';
import type { LedgerStore, LedgerWrite } from '../../../core/ledger/types';
import { result } from './fixtures';

/** A store whose every commit waits until the test releases it. */
function gatedStore() {
	const groups: LedgerWrite[][] = [];
	const release: Array<() => void> = [];
	const fail: Array<(e: Error) => void> = [];
	const store = {
		label: 'gated',
		init: async () => undefined,
		writeBatch: (_job: string, writes: readonly LedgerWrite[]) =>
			new Promise<void>((resolve, reject) => {
				groups.push([...writes]);
				release.push(resolve);
				fail.push(reject);
			}),
	} as unknown as LedgerStore;
	return { store, groups, release, fail };
}

const turn = () => new Promise((r) => setImmediate(r));

describe('checkpoint.committed()', () => {
	it("resolves when the caller's own group is committed, not when later groups are", async () => {
		const { store, groups, release } = gatedStore();
		const cp = createCheckpoint(store, 'job');
		cp.succeeded(result('a', 'h'));
		const mine = cp.committed!();
		let mineDone = false;
		void mine.then(() => (mineDone = true));
		await turn();
		expect(groups).toHaveLength(1); // group 1 = [a] is being written
		cp.succeeded(result('b', 'h')); // arrives during the commit: forms group 2
		const theirs = cp.committed!();
		let theirsDone = false;
		void theirs.then(() => (theirsDone = true));
		let flushed = false;
		void cp.flush().then(() => (flushed = true));
		release[0]();
		await turn();
		await turn();
		// group 1 committed: its writer goes on, while flush() (everything) still waits on group 2
		expect(mineDone).toBe(true);
		expect(theirsDone).toBe(false);
		expect(flushed).toBe(false);
		expect(groups).toHaveLength(2);
		release[1]();
		await turn();
		await turn();
		expect(theirsDone).toBe(true);
		expect(flushed).toBe(true);
	});

	it('rejects with the store error when its group fails', async () => {
		const { store, fail } = gatedStore();
		const cp = createCheckpoint(store, 'job');
		cp.succeeded(result('a', 'h'));
		const mine = cp.committed!();
		await turn();
		fail[0](new Error('disk full'));
		await expect(mine).rejects.toMatchObject({ name: 'LedgerStoreError' });
	});

	it('resolves at once when nothing is pending', async () => {
		const { store } = gatedStore();
		await expect(createCheckpoint(store, 'job').committed!()).resolves.toBeUndefined();
	});
});
