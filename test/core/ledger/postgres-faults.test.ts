/** Which PostgreSQL failures the ledger waits out, and where trying again would apply work twice. */
import { describe, expect, it } from 'vitest';

import {
	pgFault,
	readsOnly,
	safeToRetry,
	type PgFault,
	type PgStage,
} from '../../../core/ledger/postgres-faults';

const pgError = (code: string, message = `error ${code}`) =>
	Object.assign(new Error(message), { code });

describe('pgFault', () => {
	it.each<[string, unknown, PgFault]>([
		[
			'pool: no free connection in time',
			new Error('timeout exceeded when trying to connect'),
			'busy',
		],
		['53300 too_many_connections', pgError('53300', 'sorry, too many clients already'), 'busy'],
		['57P03 cannot_connect_now', pgError('57P03', 'the database system is starting up'), 'busy'],
		['40001 serialization_failure', pgError('40001'), 'rejected'],
		['40P01 deadlock_detected', pgError('40P01'), 'rejected'],
		['ECONNREFUSED', pgError('ECONNREFUSED', 'connect ECONNREFUSED 10.0.0.5:5432'), 'lost'],
		['ECONNRESET', pgError('ECONNRESET', 'read ECONNRESET'), 'lost'],
		['57P01 admin_shutdown', pgError('57P01'), 'lost'],
		['08006 connection_failure', pgError('08006'), 'lost'],
		['handshake timeout', new Error('Connection terminated due to connection timeout'), 'lost'],
		['closed under a query', new Error('Connection terminated unexpectedly'), 'lost'],
		[
			'28P01 wrong password',
			pgError('28P01', 'password authentication failed for user "n8n"'),
			'final',
		],
		['3D000 no such database', pgError('3D000', 'database "ledger" does not exist'), 'final'],
		['42P01 SQL error', pgError('42P01', 'relation "x" does not exist'), 'final'],
		[
			'ENOTFOUND: a wrong host name stays wrong',
			pgError('ENOTFOUND', 'getaddrinfo ENOTFOUND db'),
			'final',
		],
		['a bug', new TypeError('Cannot read properties of undefined'), 'final'],
		['not an error', 'boom', 'final'],
	])('%s → %s', (_, error, fault) => {
		expect(pgFault(error)).toBe(fault);
	});
});

describe('safeToRetry', () => {
	it('never a final fault; busy and rejected anywhere; a lost connection only before anything may have been committed', () => {
		const stages: PgStage[] = ['connect', 'work', 'commit'];
		const table = Object.fromEntries(
			(['busy', 'rejected', 'lost', 'final'] as PgFault[]).map((f) => [
				f,
				stages.map((s) => safeToRetry(f, s)),
			]),
		);
		expect(table).toEqual({
			busy: [true, true, true],
			rejected: [true, true, true],
			lost: [true, true, false],
			final: [false, false, false],
		});
	});

	it('reads are told from writes by their statement', () => {
		expect(readsOnly('SELECT * FROM t WHERE updated_at > $1')).toBe(true);
		expect(readsOnly('  select count(*) from t')).toBe(true);
		expect(readsOnly('SELECT id FROM t FOR UPDATE')).toBe(false);
		expect(readsOnly('UPDATE t SET a = 1')).toBe(false);
		expect(readsOnly('INSERT INTO t SELECT 1')).toBe(false);
		expect(readsOnly('DELETE FROM t')).toBe(false);
	});
});
