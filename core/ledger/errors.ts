/**
 * One error class for everything a ledger store can fail with. The message always names the
 * store (`Ledger store "SQLite /tmp/x.sqlite" …`) and never carries a password.
 */

export type LedgerErrorCode = 'store_unavailable' | 'store_corrupt' | 'store_locked' | 'store_auth';

export class LedgerStoreError extends Error {
	override readonly name = 'LedgerStoreError';

	constructor(
		readonly code: LedgerErrorCode,
		/** The store's label, e.g. `SQLite /path/x.sqlite`. */
		readonly store: string,
		message: string,
		options?: { cause?: unknown },
	) {
		super(message, options);
	}
}

const HINTS: Record<LedgerErrorCode, string> = {
	store_unavailable:
		'check that the server is running and reachable, or that the folder exists and is writable',
	store_corrupt:
		'the file is damaged or is not a ledger; move it away (or choose another path) and run again',
	store_locked:
		'another process holds a write lock for too long; wait for it or give each n8n instance its own file (or use PostgreSQL)',
	store_auth: 'check the user name and password of the PostgreSQL credential',
};

/** `Ledger store "<label>" could not <action>: <reason> — <hint>` */
export function ledgerError(
	code: LedgerErrorCode,
	store: string,
	action: string,
	reason: string,
	cause?: unknown,
): LedgerStoreError {
	return new LedgerStoreError(
		code,
		store,
		`Ledger store "${store}" could not ${action}: ${reason} — ${HINTS[code]}`,
		{
			cause,
		},
	);
}

// node:sqlite errors carry the SQLite result code in `errcode` (extended codes keep the
// primary code in the low byte).
const SQLITE_BUSY = 5;
const SQLITE_LOCKED = 6;
const SQLITE_CORRUPT = 11;
const SQLITE_CANTOPEN = 14;
const SQLITE_NOTADB = 26;

export function fromSqliteError(error: unknown, store: string, action: string): LedgerStoreError {
	if (error instanceof LedgerStoreError) return error;
	const e = error as { errcode?: unknown; errstr?: unknown; message?: unknown };
	const primary = typeof e.errcode === 'number' ? e.errcode & 0xff : undefined;
	const reason = typeof e.message === 'string' ? e.message : String(error);
	let code: LedgerErrorCode = 'store_unavailable';
	if (primary === SQLITE_NOTADB || primary === SQLITE_CORRUPT) code = 'store_corrupt';
	else if (primary === SQLITE_BUSY || primary === SQLITE_LOCKED) code = 'store_locked';
	else if (primary === SQLITE_CANTOPEN) code = 'store_unavailable';
	return ledgerError(code, store, action, reason, error);
}

/**
 * pg errors: SQLSTATE in `code` for server errors, errno names (ECONNREFUSED…) for socket errors.
 * `waitedMs`: how long the work waited for the database before giving up (postgres-connections.ts).
 */
export function fromPostgresError(
	error: unknown,
	store: string,
	action: string,
	waitedMs?: number,
): LedgerStoreError {
	if (error instanceof LedgerStoreError) return error;
	const e = error as { code?: unknown; message?: unknown };
	const pgCode = typeof e.code === 'string' ? e.code : '';
	let reason =
		typeof e.message === 'string' && e.message !== '' ? e.message : pgCode || String(error);
	let code: LedgerErrorCode = 'store_unavailable';
	if (pgCode === '28P01' || pgCode === '28000') code = 'store_auth';
	else if (pgCode === 'XX001' || pgCode === 'XX002') code = 'store_corrupt';
	else if (pgCode === '55P03' || pgCode === '40P01') code = 'store_locked';
	else if (pgCode === 'ECONNREFUSED') reason = `connection refused (${reason})`;
	else if (pgCode === 'ENOTFOUND') reason = `host not found (${reason})`;
	else if (pgCode === '53300')
		reason = `${reason} (every connection the server allows is in use: see "Ledger connections" in docs/queue-mode.md)`;
	if (waitedMs !== undefined) reason += `, still after waiting ${Math.round(waitedMs / 1000)} s`;
	return ledgerError(code, store, action, reason, error);
}
