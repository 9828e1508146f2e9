/**
 * Which PostgreSQL failures are worth waiting out, and when trying the work again is safe.
 * A failure is one of three kinds:
 *
 * - **busy**: the server or the pool had no connection for us right now (every pooled
 *   connection taken past its timeout, `53300 too_many_connections`, `57P03 cannot_connect_now`
 *   while the server starts or recovers). Nothing of ours ran.
 * - **lost**: the connection broke (refused, reset, the server shut down) — before any work
 *   when it happens on connect, but with a statement under way its outcome is unknown.
 * - **rejected**: the server aborted the statement and says so (`40001`, `40P01`): nothing of it
 *   was applied.
 *
 * Anything else — authentication, a database that does not exist, a SQL error, a bug — is final:
 * waiting does not change it.
 */
export type PgFault = 'busy' | 'lost' | 'rejected' | 'final';

/**
 * Where the work was when it failed: still getting a connection; in the middle of work that a
 * failure leaves undone (a transaction before its COMMIT, a read); or applying work whose
 * effect a broken connection leaves unknown (a COMMIT, a write outside a transaction).
 */
export type PgStage = 'connect' | 'work' | 'commit';

const BUSY_CODES = new Set(['53300', '57P03']);
const REJECTED_CODES = new Set(['40001', '40P01']);
/** The server going away (admin / crash shutdown) and SQLSTATE class 08, connection exception. */
const LOST_SQLSTATES = new Set(['57P01', '57P02', '08000', '08001', '08003', '08004', '08006']);
/** Socket errors: the server unreachable for now (not ENOTFOUND: a wrong host name stays wrong). */
const LOST_ERRNOS = new Set([
	'ECONNREFUSED',
	'ECONNRESET',
	'ETIMEDOUT',
	'EPIPE',
	'EHOSTUNREACH',
	'ENETUNREACH',
	'EAI_AGAIN',
]);
// pg and pg-pool throw these without a code: the pool's wait for a free connection, a new
// connection's handshake timing out, a connection closed under a query.
const BUSY_MESSAGES = [/^timeout exceeded when trying to connect/i];
const LOST_MESSAGES = [
	/^Connection terminated/i,
	/^Client has encountered a connection error/i,
	/^Connection ended unexpectedly/i,
];

export function pgFault(error: unknown): PgFault {
	const e = error as { code?: unknown; message?: unknown } | null;
	const code = typeof e?.code === 'string' ? e.code : '';
	const message = typeof e?.message === 'string' ? e.message : '';
	if (BUSY_CODES.has(code) || BUSY_MESSAGES.some((m) => m.test(message))) return 'busy';
	if (REJECTED_CODES.has(code)) return 'rejected';
	if (LOST_SQLSTATES.has(code) || LOST_ERRNOS.has(code)) return 'lost';
	if (code === '' && LOST_MESSAGES.some((m) => m.test(message))) return 'lost';
	return 'final';
}

/**
 * Whether the work may simply be tried again: never for a final fault, always when nothing
 * of it ran or the server says nothing was applied, and after a broken connection only when
 * nothing can have been committed (trying a committed write again could apply it twice).
 */
export function safeToRetry(fault: PgFault, stage: PgStage): boolean {
	if (fault === 'final') return false;
	if (fault === 'busy' || fault === 'rejected') return true;
	return stage !== 'commit';
}

/** A statement that only reads (retried after a broken connection like work in a transaction). */
export function readsOnly(sql: string): boolean {
	return /^\s*SELECT\b/i.test(sql) && !/\b(INSERT|UPDATE|DELETE)\b/i.test(sql);
}
