/**
 * The PostgreSQL ledger's connections: one pool per process (core/ledger/index.ts caches the
 * store), used by the records, the batch-job tables and the heartbeats alike, and the ledger's
 * one policy for a database that is busy for a moment — every pooled connection taken, the
 * server at max_connections, restarting — which is waited out with backoff instead of stopping
 * the run. This is about the store only: LLM calls have their own retry layer
 * (core/call/retry.ts) and never come through here.
 */
import type { Pool, PoolClient, QueryResult, QueryResultRow } from 'pg';

import { fromPostgresError } from './errors';
import { pgFault, readsOnly, safeToRetry, type PgStage } from './postgres-faults';
import { resolveRetryPolicy, retryDelay } from '../call/retry';
import { systemClock } from '../clock';
import type { Clock } from '../types';

/**
 * How long one piece of ledger work waits for a busy database before it fails. A claim may
 * wait this long, then its request run, then the answer's write wait this long again: each
 * attempt's connection wait adds the pool's timeout (10 s) on top, so the worst case
 * 2 × 90 s + the request timeout stays inside the claim's lease (at least 5 minutes, and at
 * least twice the request timeout + 1 minute: core/call/run-call.ts). A longer wait would let
 * another execution take over a record whose answer is still waiting to be stored, and pay
 * for it again.
 */
export const LEDGER_WAIT_MS = 80_000;

/**
 * Connections per process. The store is opened once per process and database (core/ledger/
 * index.ts), so every execution on a worker — n8n's 10 slots by default — shares these; each
 * execution holds one at a time for its group commit and claims, a moment for a heartbeat.
 * The whole setup opens (workers + main) × this many: 16 for 3 workers, well inside
 * PostgreSQL's default max_connections of 100 beside n8n's own pools. A worker whose
 * executions find all taken waits (the pool's queue, then LEDGER_WAIT_MS), it does not fail.
 */
export const LEDGER_POOL_SIZE = 4;

/** Full-jitter backoff (core/call/retry.ts's formula): from 250 ms up to 10 s between tries. */
const BACKOFF = resolveRetryPolicy({ baseDelayMs: 250, maxDelayMs: 10_000 });
const MIN_DELAY_MS = 50;

export interface LedgerWaitOptions {
	/** Times the waits. @default the real clock */
	readonly clock?: Clock;
	/** @default LEDGER_WAIT_MS */
	readonly maxWaitMs?: number;
}

export interface WorkOptions {
	/**
	 * One try, no wait: for work that the next occasion replaces anyway (a heartbeat, written
	 * again 10 s later), which must never hold a run up.
	 */
	readonly once?: boolean;
}

export class PostgresConnections {
	private readonly clock: Clock;
	private readonly maxWaitMs: number;

	constructor(
		readonly pool: Pool,
		/** The store's label for messages, e.g. `PostgreSQL user@host:5432/db`. */
		readonly label: string,
		options: LedgerWaitOptions = {},
	) {
		this.clock = options.clock ?? systemClock;
		this.maxWaitMs = options.maxWaitMs ?? LEDGER_WAIT_MS;
		if (!(this.maxWaitMs >= 0))
			throw new TypeError(`Expected \`maxWaitMs\` to be >= 0, got ${options.maxWaitMs}`);
	}

	/** One statement on its own (autocommit). A write whose connection breaks under it is not tried again. */
	query<R extends QueryResultRow = QueryResultRow>(
		action: string,
		sql: string,
		params: unknown[],
		options: WorkOptions = {},
	): Promise<QueryResult<R>> {
		const stage: PgStage = readsOnly(sql) ? 'work' : 'commit';
		return this.patiently(action, options, (at) =>
			this.withClient((client) => {
				at.stage = stage;
				return client.query<R>(sql, params);
			}),
		);
	}

	/**
	 * `fn` in one transaction. A transaction that failed before its COMMIT left nothing behind
	 * and is run again whole, so `fn` must only read and write through `client` (or be safe to
	 * run twice).
	 */
	transaction<T>(
		action: string,
		fn: (client: PoolClient) => Promise<T>,
		options: WorkOptions = {},
	): Promise<T> {
		return this.patiently(action, options, (at) =>
			this.withClient(async (client) => {
				at.stage = 'work';
				await client.query('BEGIN');
				let committed = false;
				try {
					const value = await fn(client);
					at.stage = 'commit';
					await client.query('COMMIT');
					committed = true;
					return value;
				} finally {
					if (!committed) await client.query('ROLLBACK').catch(() => undefined);
				}
			}),
		);
	}

	/** Tries `attempt` until it succeeds, fails for good, or the wait is used up. */
	private async patiently<T>(
		action: string,
		options: WorkOptions,
		attempt: (at: { stage: PgStage }) => Promise<T>,
	): Promise<T> {
		const started = this.clock.now();
		for (let failure = 1; ; failure++) {
			const at: { stage: PgStage } = { stage: 'connect' };
			try {
				return await attempt(at);
			} catch (error) {
				const waited = this.clock.now() - started;
				// Never 0: a jitter of nothing would try again in a tight loop.
				const delay = Math.max(
					MIN_DELAY_MS,
					retryDelay(failure, BACKOFF, () => this.clock.random()),
				);
				const retry =
					!options.once &&
					safeToRetry(pgFault(error), at.stage) &&
					waited + delay <= this.maxWaitMs;
				if (!retry)
					throw fromPostgresError(error, this.label, action, failure > 1 ? waited : undefined);
				await this.clock.sleep(delay);
			}
		}
	}

	private async withClient<T>(fn: (client: PoolClient) => Promise<T>): Promise<T> {
		const client = await this.pool.connect();
		// A checked-out client whose server goes away emits 'error'; without a listener that is an
		// uncaught exception. The failing query rejects anyway, which is where it is reported.
		const ignore = () => undefined;
		client.on('error', ignore);
		let ok = false;
		try {
			const value = await fn(client);
			ok = true;
			return value;
		} finally {
			client.off('error', ignore);
			// After an error the connection may be dead: destroy it rather than pool it.
			client.release(!ok);
		}
	}
}
