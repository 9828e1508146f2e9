/**
 * A PostgreSQL ledger that is busy for a while (no connection free in the pool, the server
 * refusing or not yet accepting connections) is waited out with backoff on the injected clock;
 * a run over it completes with every item answered once. A fault that waiting cannot cure
 * (authentication, a missing database, a SQL error) stops at once with the store's message.
 */
import type { Pool, PoolClient } from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import { privateFlow } from '../../../core/call/limiter/in-process';
import {
	runCall,
	type CallConfig,
	type CallInput,
	type CallLimit,
} from '../../../core/call/run-call';
import { createCheckpoint } from '../../../core/ledger/checkpoint';
import { heartbeatStoreFor } from '../../../core/ledger/heartbeat';
import { PostgresLedgerStore } from '../../../core/ledger/postgres';
import type { LedgerStore, PostgresStoreConfig } from '../../../core/ledger/types';
import { emptyTally } from '../../../core/status/job-heartbeat';
import { TEST_CALL_OPTIONS, ticketsInput } from '../../helpers/call-options';
import { drive, FakeClock } from '../../helpers/fake-clock';
import {
	createTestDatabase,
	startPostgres,
	startServer,
	stopPostgres,
	stopServer,
	testPostgresFromEnv,
	type TestPostgres,
} from '../../helpers/postgres';
import { result } from './fixtures';

const open: LedgerStore[] = [];
afterEach(async () => {
	await Promise.all(open.splice(0).map((s) => s.close()));
});

async function store(
	clock: FakeClock,
	extra: Partial<PostgresStoreConfig> = {},
): Promise<PostgresLedgerStore> {
	const db = await createTestDatabase('pgwait');
	const s = new PostgresLedgerStore({ kind: 'postgres', ...db, clock, ...extra });
	open.push(s);
	return s;
}

/** What pg and PostgreSQL say when no connection can be had right now. */
const TRANSIENT: Array<() => Error> = [
	// pg-pool: every connection busy for connectionTimeoutMillis
	() => new Error('timeout exceeded when trying to connect'),
	() => Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' }),
	() =>
		Object.assign(new Error('sorry, too many clients already'), {
			code: '53300',
			severity: 'FATAL',
		}),
	() =>
		Object.assign(new Error('the database system is starting up'), {
			code: '57P03',
			severity: 'FATAL',
		}),
];

/**
 * The store's pool refusing the next `refuseNext` connections, and any while `until` is ahead
 * of the clock, with each error of `kinds` in turn; counts every connection asked for. pg's own
 * `pool.query` asks through `connect(callback)`, the rest through the promise: both are covered.
 */
function faultyPool(pool: Pool, clock: FakeClock) {
	const state = { refuseNext: 0, until: 0, kinds: TRANSIENT, refused: 0, asked: 0 };
	const real = pool.connect.bind(pool) as () => Promise<PoolClient>;
	const connect = (
		callback?: (e: Error | undefined, c?: PoolClient, done?: () => void) => void,
	) => {
		state.asked++;
		const refuse = state.refuseNext > 0 || clock.now() < state.until;
		if (state.refuseNext > 0) state.refuseNext--;
		const attempt = refuse
			? Promise.reject(state.kinds[state.refused++ % state.kinds.length]())
			: real();
		if (!callback) return attempt;
		attempt.then(
			(c) => callback(undefined, c, (e?: unknown) => c.release(e as Error)),
			(e: Error) => callback(e),
		);
		return undefined;
	};
	(pool as unknown as { connect: typeof connect }).connect = connect;
	return state;
}

/**
 * The next connection the store takes fails its first statement matching `which` with `error`
 * (the statement is not run): a connection that breaks mid-transaction or at its COMMIT.
 */
function breakStatement(pool: Pool, which: RegExp, error: () => Error) {
	const state = { asked: 0, broken: 0 };
	const real = pool.connect.bind(pool) as () => Promise<PoolClient>;
	const take = async () => {
		state.asked++;
		const client = await real();
		if (state.broken > 0) return client;
		const query = client.query.bind(client) as (sql: string, ...rest: unknown[]) => unknown;
		(client as unknown as { query: typeof query }).query = (sql, ...rest) => {
			if (state.broken === 0 && which.test(sql)) {
				state.broken++;
				client.query = query as typeof client.query;
				// pg's own `pool.query` passes a callback; everything else awaits the promise.
				const callback = rest.find((a): a is (e: Error) => void => typeof a === 'function');
				if (!callback) return Promise.reject(error());
				callback(error());
				return undefined;
			}
			return query(sql, ...rest);
		};
		return client;
	};
	// pg's own `pool.query` takes its connection through the callback.
	const connect = (callback?: (e: Error | undefined, c?: PoolClient) => void) => {
		if (!callback) return take();
		take().then(
			(c) => callback(undefined, c),
			(e: Error) => callback(e),
		);
		return undefined;
	};
	(pool as unknown as { connect: typeof connect }).connect = connect;
	return state;
}

const lost = () => Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' });

const OPTIONS = TEST_CALL_OPTIONS;

const limit = (clock: FakeClock): CallLimit => ({
	limiter: privateFlow({ rpm: 1_000_000, tpm: Infinity }, clock),
	onStop: () => undefined,
	finish: () => undefined,
	release: () => undefined,
});

/** An OpenAI-compatible endpoint answering `{"label":"<prompt>"}`; `onRequest(n)` sees the n-th. */
function endpoint(onRequest: (n: number) => void) {
	const prompts: string[] = [];
	const fetchImpl = (async (_url: string, init: RequestInit) => {
		const body = JSON.parse(String(init.body)) as { messages: Array<{ content: string }> };
		const prompt = body.messages[body.messages.length - 1].content;
		prompts.push(prompt);
		onRequest(prompts.length);
		return new Response(
			JSON.stringify({
				id: `c${prompts.length}`,
				object: 'chat.completion',
				created: 0,
				model: 'gpt-4o-mini',
				choices: [
					{
						index: 0,
						message: { role: 'assistant', content: JSON.stringify({ label: prompt }) },
						finish_reason: 'stop',
					},
				],
				usage: { prompt_tokens: 20, completion_tokens: 5, total_tokens: 25 },
			}),
			{ status: 200, headers: { 'content-type': 'application/json' } },
		);
	}) as unknown as typeof fetch;
	return { fetchImpl, prompts };
}

function call(n: number, ledger: LedgerStore): { config: CallConfig; input: CallInput } {
	const schema = {
		type: 'object',
		properties: { label: { type: 'string' } },
		required: ['label'],
		additionalProperties: false,
	};
	const config: CallConfig = {
		primary: {
			provider: 'openai',
			credentials: { apiKey: 'sk-test-pg-wait', baseUrl: 'http://llm.test/v1' },
			model: 'gpt-4o-mini',
		},
		schema,
		concurrency: 2,
		tokensPerMinute: 1_000_000_000,
		options: OPTIONS,
		prices: {},
		ledger: { store: ledger, job: 'busy-ledger' },
		label: 'LLM Batch Call',
	};
	return { config, input: ticketsInput(n, { model: 'gpt-4o-mini', schema }) };
}

describe('a busy PostgreSQL ledger during a run', () => {
	it('is waited out: every item answered once, nothing paid twice, the run not stopped', async () => {
		const clock = new FakeClock(Date.parse('2026-01-01T02:00:00Z'));
		const ledger = await store(clock);
		await ledger.init();
		const faults = faultyPool(ledger.pool, clock);
		// From the 4th request on, the ledger's database refuses the next 12 connections: each
		// kind of refusal three times, for several seconds of backoff.
		const api = endpoint((n) => {
			if (n === 4) faults.refuseNext = 12;
		});
		const { config, input } = call(12, ledger);
		const warnings: string[] = [];
		const result = await drive(
			clock,
			runCall(config, input, {
				clock,
				fetch: api.fetchImpl,
				limits: [limit(clock)],
				log: { info: () => undefined, warn: (l) => warnings.push(l) },
			}),
			20,
		);
		expect(faults.refused).toBe(12);
		expect(warnings.filter((w) => w.includes('run stopped'))).toEqual([]);
		expect(result.outcomes.map((o) => (o.ok ? o.result.output : o.error.code))).toEqual(
			input.items.map((_, i) => ({ label: `ticket ${i}` })),
		);
		// Every prompt paid exactly once.
		expect([...api.prompts].sort()).toEqual(input.items.map((_, i) => `ticket ${i}`).sort());
		const stats = await ledger.stats('busy-ledger');
		expect({ total: stats.total, succeeded: stats.succeeded, failed: stats.failed }).toEqual({
			total: 12,
			succeeded: 12,
			failed: 0,
		});
		expect(result.outcomes.map((o) => o.ok && o.result.attempts)).toEqual(input.items.map(() => 1));
	});

	it('the pool exhausted past its connection timeout: the query waits for a free connection', async () => {
		const clock = new FakeClock(Date.parse('2026-01-01T02:00:00Z'));
		const ledger = await store(clock, { maxConnections: 1, connectionTimeoutMs: 50 });
		// A new connection may itself take longer than 50 ms on a loaded machine: waited out too.
		await drive(clock, ledger.init(), 'due');
		clock.sleeps.length = 0;
		const held = await ledger.pool.connect();
		let settled = false;
		const read = ledger.getMany('job', ['a']).finally(() => (settled = true));
		read.catch(() => undefined);
		// The first try times out in the pool (real 50 ms), then waits on the clock.
		while (clock.pending === 0 && !settled) await new Promise((r) => setTimeout(r, 10));
		held.release();
		expect(clock.pending).toBe(1);
		const got = await drive(clock, read, 'due');
		expect(got.size).toBe(0);
		expect(clock.sleeps.length).toBeGreaterThanOrEqual(1);
	});

	it('a real server refusing the role more connections (53300) is waited out until one is free', async () => {
		const clock = new FakeClock();
		const db = await createTestDatabase('pgwait');
		const { Client } = await import('pg');
		const admin = new Client({ ...db });
		await admin.connect();
		const role = `pgwait_${process.pid}_${Date.now().toString(36)}`;
		try {
			await admin.query(`CREATE ROLE ${role} LOGIN PASSWORD 'role-pw' CONNECTION LIMIT 1`);
			await admin.query(`ALTER DATABASE "${db.database}" OWNER TO ${role}`);
		} finally {
			await admin.end();
		}
		const as = { ...db, user: role, password: 'role-pw' };
		// Another process of the setup holds the role's only connection.
		const other = new Client(as);
		await other.connect();
		let held = true;
		const free = async () => {
			if (held) await other.end();
			held = false;
		};
		try {
			const ledger = new PostgresLedgerStore({ kind: 'postgres', ...as, clock });
			open.push(ledger);
			let settled = false;
			const opening = ledger.init().finally(() => (settled = true));
			opening.catch(() => undefined);
			while (clock.pending === 0 && !settled) await new Promise((r) => setTimeout(r, 10));
			expect(clock.pending).toBe(1); // refused, now waiting
			await free();
			await drive(clock, opening, 'due');
			expect(clock.sleeps.length).toBeGreaterThanOrEqual(1);
			expect((await ledger.stats('job')).total).toBe(0);
		} finally {
			await free();
		}
	});

	it('a refusal that outlasts the wait stops with a message naming the store, the wait and the reason', async () => {
		const clock = new FakeClock(Date.parse('2026-01-01T02:00:00Z'));
		const ledger = await store(clock);
		await ledger.init();
		const faults = faultyPool(ledger.pool, clock);
		faults.until = Number.POSITIVE_INFINITY;
		faults.kinds = [TRANSIENT[1]];
		const error = await drive(clock, ledger.getMany('job', ['a']), 'due').catch(
			(e: unknown) => e as Error & { code?: string },
		);
		expect(error).toMatchObject({ name: 'LedgerStoreError', code: 'store_unavailable' });
		expect((error as Error).message).toMatch(
			/^Ledger store "PostgreSQL .*" could not read records: connection refused \(connect ECONNREFUSED 127\.0\.0\.1:5432\), still after waiting \d+ s — /,
		);
		// Waited in growing steps, none longer than the ceiling, in all about the bound.
		const waited = clock.sleeps.reduce((a, b) => a + b, 0);
		expect(waited).toBeLessThanOrEqual(80_000);
		expect(waited).toBeGreaterThan(60_000);
		expect(Math.max(...clock.sleeps)).toBeLessThanOrEqual(10_000);
	});
});

describe('a real server restarting while results wait to be written', () => {
	let own: TestPostgres | undefined;
	beforeAll(async () => {
		own = await startPostgres();
	}, 60_000);
	afterAll(() => {
		if (own) stopPostgres(own);
	});

	it('the writes wait (dead pooled connections, then refused ones) and land once it is back', async () => {
		const server = own!;
		const clock = new FakeClock();
		const ledger = new PostgresLedgerStore({
			kind: 'postgres',
			...server,
			connectionTimeoutMs: 2000,
			clock,
		});
		open.push(ledger);
		await ledger.init();
		const checkpoint = createCheckpoint(ledger, 'job', { clock });
		for (let i = 0; i < 10; i++) checkpoint.succeeded(result(`a${i}`, `ha${i}`));
		await checkpoint.flush();
		stopServer(server);
		for (let i = 0; i < 10; i++) checkpoint.succeeded(result(`b${i}`, `hb${i}`));
		let settled = false;
		const flushing = checkpoint.flush().finally(() => (settled = true));
		flushing.catch(() => undefined);
		while (clock.pending === 0 && !settled) await new Promise((r) => setTimeout(r, 10));
		expect(clock.pending).toBe(1); // failed, waiting
		startServer(server);
		await drive(clock, flushing, 'due');
		expect(checkpoint.error).toBeUndefined();
		const stats = await ledger.stats('job');
		expect({ total: stats.total, succeeded: stats.succeeded }).toEqual({
			total: 20,
			succeeded: 20,
		});
	});
});

describe('a connection lost under a transaction', () => {
	const start = {
		type: 'started' as const,
		recordId: 'r1',
		promptHash: 'h',
		at: '2026-01-01T00:00:00.000Z',
	};

	it('before its COMMIT: nothing was applied, so it runs again whole and lands once', async () => {
		const clock = new FakeClock();
		const ledger = await store(clock);
		await ledger.init();
		const broken = breakStatement(ledger.pool, /^\s*INSERT/, lost);
		await drive(clock, ledger.writeBatch('job', [start]), 'due');
		expect(broken).toEqual({ asked: 2, broken: 1 });
		expect(clock.sleeps).toHaveLength(1);
		const records = await ledger.list('job');
		expect(records.map((r) => [r.recordId, r.status, r.attempts])).toEqual([
			['r1', 'processing', 1],
		]);
	});

	it('at its COMMIT: it may have been applied, so it is not run again and the store says why', async () => {
		const clock = new FakeClock();
		const ledger = await store(clock);
		await ledger.init();
		const broken = breakStatement(ledger.pool, /^COMMIT/, lost);
		const error = (await ledger.writeBatch('job', [start]).catch((e: unknown) => e)) as Error & {
			code?: string;
		};
		expect(error.code).toBe('store_unavailable');
		expect(error.message).toMatch(/could not write results: read ECONNRESET — /);
		expect(broken).toEqual({ asked: 1, broken: 1 });
		expect(clock.sleeps).toEqual([]);
	});

	it('a write outside a transaction is not run again either; a read is', async () => {
		const clock = new FakeClock();
		const ledger = await store(clock);
		await ledger.init();
		const write = breakStatement(ledger.pool, /^\s*UPDATE/, lost);
		await expect(ledger.expireClaims('job', 'owner')).rejects.toThrow(/read ECONNRESET/);
		expect(write.asked).toBe(1);
		const read = breakStatement(ledger.pool, /^\s*SELECT/, lost);
		await drive(clock, ledger.getMany('job', ['r1']), 'due');
		expect(read).toEqual({ asked: 2, broken: 1 });
	});
});

describe('the heartbeat on a busy ledger', () => {
	it('one try, no wait: the next beat replaces it, and the run never waits for it', async () => {
		const clock = new FakeClock();
		const ledger = await store(clock);
		await ledger.init();
		const beats = heartbeatStoreFor(ledger);
		await beats.init();
		const faults = faultyPool(ledger.pool, clock);
		faults.refuseNext = 1;
		const beat = beats.beat({
			job: 'job',
			run: 'run-1',
			execution: 'e1',
			worker: 'w:1',
			node: 'LLM Batch Call',
			state: 'running',
			startedAt: '2026-01-01T00:00:00.000Z',
			beatAt: '2026-01-01T00:00:10.000Z',
			lastProgressAt: null,
			intervalMs: 10_000,
			recentLatenciesMs: [],
			...emptyTally(10),
		});
		await expect(beat).rejects.toThrow(/could not record a heartbeat: timeout exceeded/);
		expect(faults.asked).toBe(1);
		expect(clock.sleeps).toEqual([]);
	});
});

describe('a fault waiting cannot cure stops at once', () => {
	it('authentication failed (real server, wrong password)', async () => {
		const clock = new FakeClock();
		const pg = testPostgresFromEnv();
		const ledger = new PostgresLedgerStore({
			kind: 'postgres',
			...pg,
			password: 'wrong-password',
			clock,
		});
		open.push(ledger);
		const error = (await ledger.init().catch((e: unknown) => e)) as Error & { code?: string };
		expect(error.code).toBe('store_auth');
		expect(error.message).toMatch(/password authentication failed/);
		expect(error.message).not.toContain('wrong-password');
		expect(clock.sleeps).toEqual([]);
	});

	it('the database does not exist (real server)', async () => {
		const clock = new FakeClock();
		const pg = testPostgresFromEnv();
		const ledger = new PostgresLedgerStore({
			kind: 'postgres',
			...pg,
			database: 'no_such_ledger_db',
			clock,
		});
		open.push(ledger);
		const error = (await ledger.init().catch((e: unknown) => e)) as Error & { code?: string };
		expect(error.code).toBe('store_unavailable');
		expect(error.message).toMatch(/database "no_such_ledger_db" does not exist/);
		expect(clock.sleeps).toEqual([]);
	});

	it('a SQL error inside a transaction (real server): one try, no wait', async () => {
		const clock = new FakeClock();
		const ledger = await store(clock);
		await ledger.init();
		const faults = faultyPool(ledger.pool, clock);
		// A record ID PostgreSQL cannot store (a NUL byte): 22021 character_not_in_repertoire.
		const error = (await ledger
			.writeBatch('job', [
				{ type: 'started', recordId: 'a\u0000b', promptHash: 'h', at: '2026-01-01T00:00:00Z' },
			])
			.catch((e: unknown) => e)) as Error;
		expect(error.message).toMatch(/could not write results: .*0x00/);
		expect(faults.asked).toBe(1);
		expect(clock.sleeps).toEqual([]);
	});

	it('the same refusals are not retried when they are not transient (injected 28P01)', async () => {
		const clock = new FakeClock();
		const ledger = await store(clock);
		await ledger.init();
		const faults = faultyPool(ledger.pool, clock);
		faults.until = Number.POSITIVE_INFINITY;
		faults.kinds = [
			() =>
				Object.assign(new Error('password authentication failed for user "x"'), {
					code: '28P01',
				}),
		];
		const error = (await ledger.stats('job').catch((e: unknown) => e)) as Error & {
			code?: string;
		};
		expect(error.code).toBe('store_auth');
		expect(faults.asked).toBe(1);
		expect(clock.sleeps).toEqual([]);
	});
});
