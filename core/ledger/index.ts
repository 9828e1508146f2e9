/**
 * Opening ledger stores. Stores are cached per process by what identifies the database (the
 * file path, or user@host:port/database + SSL), so every node of an execution — and every
 * execution in the same n8n process — shares one SQLite handle or one Postgres pool. The
 * password is never part of the key; it is compared separately so a changed credential gets
 * a fresh pool instead of the old one.
 */
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

import { PostgresLedgerStore } from './postgres';
import { SqliteLedgerStore } from './sqlite';
import type { LedgerStore, PostgresStoreConfig, StoreConfig } from './types';

export {
	createCheckpoint,
	DEFAULT_LEASE_MS,
	type CheckpointOptions,
	type ResponseCacheOptions,
} from './checkpoint';
export { LedgerStoreError, type LedgerErrorCode } from './errors';
export { isCompletedFor } from './skip';
export * from './types';

export const DEFAULT_SQLITE_FILE = 'llm-batch-ledger.sqlite';

/** `<N8N_USER_FOLDER or ~>/.n8n/llm-batch-ledger.sqlite`, next to n8n's own database. */
export function defaultSqlitePath(env: NodeJS.ProcessEnv = process.env): string {
	const userFolder =
		env.N8N_USER_FOLDER && env.N8N_USER_FOLDER !== '' ? env.N8N_USER_FOLDER : homedir();
	return join(userFolder, '.n8n', DEFAULT_SQLITE_FILE);
}

interface CacheEntry {
	store: LedgerStore;
	/** Postgres only: the password the pool was built with (kept in memory, like the pool does). */
	secret?: string;
}

const openStores = new Map<string, CacheEntry>();

function sqliteKey(path: string): string {
	return `sqlite:${path}`;
}

function postgresKey(config: PostgresStoreConfig): string {
	return `postgres:${config.user}@${config.host}:${config.port}/${config.database}?ssl=${JSON.stringify(config.ssl ?? false)}`;
}

/**
 * The store for a config, opened once per process. Call `init()` before use (idempotent); a
 * failed init leaves the store usable for another try.
 */
export function openStore(config: StoreConfig): LedgerStore {
	if (config.kind === 'sqlite') {
		const path = resolve(
			config.path && config.path.trim() !== '' ? config.path : defaultSqlitePath(),
		);
		const key = sqliteKey(path);
		const cached = openStores.get(key);
		if (cached) return cached.store;
		const store = new SqliteLedgerStore({ ...config, path });
		openStores.set(key, { store });
		return withEviction(store, key);
	}
	if (config.kind === 'postgres') {
		const key = postgresKey(config);
		const cached = openStores.get(key);
		if (cached && cached.secret === config.password) return cached.store;
		if (cached) {
			// The credential changed: new pool; the old one closes once its clients are idle.
			openStores.delete(key);
			void cached.store.close().catch(() => undefined);
		}
		const store = new PostgresLedgerStore(config);
		openStores.set(key, { store, secret: config.password });
		return withEviction(store, key);
	}
	throw new TypeError(
		`Expected \`kind\` to be "sqlite" or "postgres", got ${JSON.stringify((config as { kind?: unknown }).kind)}`,
	);
}

/** close() also forgets the cached handle, so the next openStore() opens a fresh one. */
function withEviction(store: LedgerStore, key: string): LedgerStore {
	const close = store.close.bind(store);
	store.close = async () => {
		if (openStores.get(key)?.store === store) openStores.delete(key);
		await close();
	};
	return store;
}

/**
 * The `llmBatchPostgresApi` credential's fields as a store config. SSL follows libpq's modes:
 * disable → plain; allow / require → encrypted without certificate check; verify-full →
 * certificate checked against the host.
 */
export function postgresConfigFromCredential(c: Record<string, unknown>): PostgresStoreConfig {
	const text = (v: unknown, fallback: string) =>
		typeof v === 'string' && v.trim() !== '' ? v.trim() : fallback;
	const sslMode = typeof c.ssl === 'string' ? c.ssl : c.ssl === true ? 'require' : 'disable';
	return {
		kind: 'postgres',
		host: text(c.host, 'localhost'),
		port: Number(c.port ?? 5432) || 5432,
		database: text(c.database, 'postgres'),
		user: text(c.user, 'postgres'),
		password: typeof c.password === 'string' ? c.password : '',
		ssl:
			sslMode === 'disable'
				? false
				: sslMode === 'verify-full'
					? true
					: { rejectUnauthorized: false },
	};
}

/** Closes every cached store (tests, shutdown). */
export async function closeAllStores(): Promise<void> {
	const entries = [...openStores.values()];
	openStores.clear();
	await Promise.all(entries.map((e) => e.store.close()));
}
