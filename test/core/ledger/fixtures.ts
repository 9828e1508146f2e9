import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterEach } from 'vitest';

import { PostgresLedgerStore } from '../../../core/ledger/postgres';
import { SqliteLedgerStore } from '../../../core/ledger/sqlite';
import type { LedgerStore } from '../../../core/ledger/types';
import type { ItemError, LlmResult } from '../../../core/types';
import { createTestDatabase } from '../../helpers/postgres';

export function result(
	recordId: string,
	promptHash: string,
	extra: Partial<LlmResult> = {},
): LlmResult {
	return {
		recordId,
		output: { label: `label-${recordId}`, nested: { ok: true, text: 'héllo ✓ "quoted"' } },
		text: `answer for ${recordId}`,
		model: 'gpt-4o-mini',
		provider: 'openai',
		finishReason: 'stop',
		usage: { inputTokens: 10, outputTokens: 5 },
		costUsd: 0.001,
		attempts: 1,
		latencyMs: 12,
		cached: false,
		promptHash,
		completedAt: '2025-01-01T00:00:00.000Z',
		...extra,
	};
}

export function itemError(code: ItemError['code'] = 'server_error', attempts = 3): ItemError {
	return {
		code,
		message: `failed with ${code}`,
		retryable: code === 'server_error',
		attempts,
		status: 500,
	};
}

export const T0 = '2025-01-01T00:00:00.000Z';
export const T1 = '2025-01-01T00:01:00.000Z';
export const T2 = '2025-01-01T00:02:00.000Z';
export const T3 = '2025-01-01T00:03:00.000Z';

export interface StoreFactory {
	name: 'sqlite' | 'postgres';
	/** A new store over a new, empty database. */
	create(): Promise<LedgerStore>;
	/** A second, independent handle on the same database as `store` (another process, in effect). */
	reopen(store: LedgerStore): Promise<LedgerStore>;
}

export const sqliteFactory: StoreFactory = {
	name: 'sqlite',
	async create() {
		const dir = mkdtempSync(join(tmpdir(), 'ledger-test-'));
		return new SqliteLedgerStore({ kind: 'sqlite', path: join(dir, 'ledger.sqlite') });
	},
	async reopen(store) {
		return new SqliteLedgerStore({ kind: 'sqlite', path: (store as SqliteLedgerStore).path });
	},
};

const pgConfigs = new WeakMap<LedgerStore, Awaited<ReturnType<typeof createTestDatabase>>>();

export const postgresFactory: StoreFactory = {
	name: 'postgres',
	async create() {
		const db = await createTestDatabase();
		const store = new PostgresLedgerStore({ kind: 'postgres', ...db });
		pgConfigs.set(store, db);
		return store;
	},
	async reopen(store) {
		const db = pgConfigs.get(store);
		if (!db) throw new Error('not a test postgres store');
		return new PostgresLedgerStore({ kind: 'postgres', ...db });
	},
};

/**
 * Stores a test opens, closed after it (call inside the describe): `fresh()` is a new store
 * over an empty database, `second(store)` another initialised handle on the same database.
 */
export function openedStores(factory: StoreFactory): {
	fresh(): Promise<LedgerStore>;
	second(store: LedgerStore): Promise<LedgerStore>;
} {
	const open: LedgerStore[] = [];
	afterEach(async () => {
		await Promise.all(open.splice(0).map((s) => s.close()));
	});
	const ready = async (store: LedgerStore) => {
		open.push(store);
		await store.init();
		return store;
	};
	return {
		fresh: async () => ready(await factory.create()),
		second: async (store) => ready(await factory.reopen(store)),
	};
}
