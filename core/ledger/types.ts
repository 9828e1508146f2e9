/**
 * The durable ledger: one row per (job, record ID) so a run that dies half way resumes
 * where it stopped and never pays twice for a record it already has a result for.
 */
import type { NotReused } from '../identity';
import type { Clock, ItemError, LlmResult } from '../types';
import type { LedgerStoreError } from './errors';

export type RecordStatus = 'pending' | 'processing' | 'succeeded' | 'failed';

export const RECORD_STATUSES: readonly RecordStatus[] = [
	'pending',
	'processing',
	'succeeded',
	'failed',
];

export interface LedgerRecord {
	job: string;
	recordId: string;
	status: RecordStatus;
	/** Attempts the ledger saw start (across runs). */
	attempts: number;
	/** Hash of everything that shapes the answer (prompt, model, schema…); a change makes `result` stale. */
	promptHash: string;
	lastError: ItemError | null;
	result: LlmResult | null;
	createdAt: string;
	updatedAt: string;
}

/** One write handed to `LedgerStore.writeBatch`; a batch commits in one transaction. */
export type LedgerWrite =
	| { type: 'started'; recordId: string; promptHash: string; at: string }
	| {
			type: 'succeeded';
			result: LlmResult;
			at: string;
			attemptsDelta?: number;
			/** Response-cache keys to store the result under (none: not cached). */
			cacheKeys?: readonly string[];
			/**
			 * The write lands without a claim (a response-cache hit found by lookup): a record
			 * still `failed` from an earlier execution keeps what that failure paid in the prior
			 * columns. Not set on other final writes — Batch Ledger's Record Results may write
			 * the very failure the row holds (counted twice if folded).
			 */
			foldPrior?: boolean;
	  }
	| {
			type: 'failed';
			recordId: string;
			promptHash: string;
			error: ItemError;
			at: string;
			attemptsDelta?: number;
	  }
	/** Created as pending when the record is new; an existing record is left as it is. */
	| { type: 'pending'; recordId: string; at: string };

/** One record to claim. */
export interface ClaimEntry {
	recordId: string;
	promptHash: string;
	/** The attempt's result will include the usage the record paid before: not kept apart. */
	priorIncluded?: boolean;
}

/**
 * What a claim found, per record: `claimed` — this owner may send it (lease taken or renewed);
 * `done` — already succeeded with the same prompt hash (its result, nothing to send);
 * `busy` — another owner holds a lease that has not expired (ISO end of that lease).
 */
export type ClaimState =
	| { status: 'claimed' }
	| { status: 'done'; result: LlmResult }
	| { status: 'busy'; leaseUntil: string; owner: string };

export interface ListOptions {
	/** Only records with this status. */
	status?: RecordStatus;
	/** Keyset paging: records whose ID sorts after this one. */
	afterRecordId?: string;
	/** @default 1000 */
	limit?: number;
}

export interface JobStats {
	job: string;
	total: number;
	pending: number;
	processing: number;
	succeeded: number;
	failed: number;
	/** Sum of attempts over all records. */
	attempts: number;
	inputTokens: number;
	outputTokens: number;
	/**
	 * Every execution's paid usage, once: the known costs of the stored results, what failed
	 * records paid for answers that could not be used (`lastError.costUsd`, e.g. a schema
	 * violation after re-asks), and what a record paid in an execution that failed it before a
	 * later attempt replaced that failure (kept apart when the attempt claimed the record).
	 * `inputTokens` / `outputTokens` count the same answers.
	 */
	costUsd: number;
	/** Failed records by error code. */
	errorsByCode: Record<string, number>;
	firstCreatedAt: string | null;
	lastUpdatedAt: string | null;
}

/** A request's reservation against a job budget (core/call/spend-store.ts). */
export interface SpendReservation {
	ticket: string;
	owner: string;
	/** The most the request can cost. */
	usd: number;
	capUsd: number;
	/** ISO now, and the end of the reservation's lease (an execution that dies leaves it). */
	at: string;
	reservedUntil: string;
	/**
	 * What the job's records paid, as this execution last read it (a sum over every record:
	 * read again when absent). Spend stored in the records since `at` is still counted from the
	 * spend rows, so an older reading never counts less than was paid.
	 */
	recordsPaid?: RecordsPaid;
}

export interface RecordsPaid {
	usd: number;
	/** ISO time of the reading, by the store's clock (PostgreSQL: the server's). */
	at: string;
}

/**
 * A reservation taken, or refused with the job's figures: `paidUsd` — what its stored results
 * paid plus answers paid but not yet stored; `reservedUsd` — live reservations of requests in
 * flight; `holders` — the owners of those reservations.
 */
export type SpendVerdict =
	| { reserved: true; paidUsd: number; reservedUsd: number; recordsPaid: RecordsPaid }
	| {
			reserved: false;
			paidUsd: number;
			reservedUsd: number;
			holders: string[];
			recordsPaid: RecordsPaid;
	  };

export interface LedgerStore {
	readonly kind: 'sqlite' | 'postgres';
	/** A name for messages, never with a password: `SQLite /path/x.sqlite`, `PostgreSQL user@host:5432/db`. */
	readonly label: string;
	/** Opens the connection and creates the tables; idempotent, safe to call from several nodes. */
	init(): Promise<void>;
	/** The stored records among `recordIds` (missing ones are absent from the map). */
	getMany(job: string, recordIds: readonly string[]): Promise<Map<string, LedgerRecord>>;
	/** Marks records as being worked on (status processing, attempts + 1). */
	markProcessing(
		job: string,
		entries: ReadonlyArray<{ recordId: string; promptHash: string }>,
		at: string,
	): Promise<void>;
	/**
	 * Claims records before they are sent, atomically (one conditional upsert per record in one
	 * transaction): a record is taken when it is new, not `processing`, held by `owner` already,
	 * or its lease ended before `at`; a success with the same prompt hash is never taken. A taken
	 * record becomes `processing` with attempts + 1 and a lease to `leaseUntil`. A taken record
	 * that had `failed` keeps what that failure paid (see JobStats.costUsd), unless its entry
	 * says `priorIncluded`: the attempt's own result will carry that usage (a re-ask fed from
	 * the workflow with the earlier answer's usage).
	 */
	claim(
		job: string,
		entries: ReadonlyArray<ClaimEntry>,
		owner: string,
		at: string,
		leaseUntil: string,
	): Promise<Map<string, ClaimState>>;
	/** Ends the leases `owner` holds in `job` (an owner known to be dead); returns how many. */
	expireClaims(job: string, owner: string): Promise<number>;
	/** Applies the writes in order, in one transaction; `cacheKeys` of succeeded writes fill the response cache. */
	writeBatch(job: string, writes: readonly LedgerWrite[]): Promise<void>;
	/** Records of a job ordered by record ID, one page. */
	list(job: string, options?: ListOptions): Promise<LedgerRecord[]>;
	/** Records still `processing` whose last update is older than `olderThan` (ISO). */
	listStale(job: string, olderThan: string, limit?: number): Promise<LedgerRecord[]>;
	/** Sets stale `processing` records (last update older than `olderThan`) back to pending; returns them. */
	requeueStale(job: string, olderThan: string, at: string): Promise<LedgerRecord[]>;
	/** Sets the given records back to pending whatever their status; returns how many changed. */
	requeue(job: string, recordIds: readonly string[], at: string): Promise<number>;
	stats(job: string): Promise<JobStats>;
	/**
	 * Job budget: reserves `usd` for a request, atomically with every other execution of the job
	 * — taken only when the job's paid spend, plus live reservations, plus `usd` stay within
	 * `capUsd`. A reservation whose lease ended stops holding on the way, but counts as paid at
	 * its most (its execution died with the request out: the provider may have billed it).
	 */
	reserveSpend(job: string, reservation: SpendReservation): Promise<SpendVerdict>;
	/** The request's answer cost `usd`: counted as paid (no lease) until its result is stored. */
	settleSpend(job: string, spend: { ticket: string; owner: string; usd: number }): Promise<void>;
	/** The requests got no answer (nothing billed): their reservations end. */
	releaseSpend(job: string, tickets: readonly string[]): Promise<void>;
	/**
	 * `usd` of the ticket's paid spend is in the job's stored results since `at` (PostgreSQL: the
	 * server's now): counted from the records by readings taken after it, from the spend row by
	 * older ones.
	 */
	recordedSpend(job: string, ticket: string, usd: number, at: string): Promise<void>;
	/**
	 * Ends the reservations `owner` holds in `job` (an owner known to be dead): they count as
	 * paid at their most from now on; returns how many.
	 */
	expireSpend(job: string, owner: string): Promise<number>;
	/** Deletes the job's records and the cache entries it produced; returns the number of records deleted. */
	deleteJob(job: string): Promise<number>;
	/** Stored results by cache key (see checkpoint.ts for what a key covers). */
	cacheGet(keys: readonly string[]): Promise<Map<string, LlmResult>>;
	/** Keeps the first result per cache key. */
	cachePut(
		job: string,
		entries: ReadonlyArray<{ key: string; result: LlmResult }>,
		at: string,
	): Promise<void>;
	close(): Promise<void>;
}

/** What LLM Batch Call uses: created per execution over a store + job name. */
export interface Checkpoint {
	/**
	 * For each entry, by position: a stored result when that record already succeeded with the
	 * same promptHash (returned instead of calling, cached:false), or — response cache, when the
	 * checkpoint was given one — a result of the same call (same cache key) stored before (copy
	 * with recordId replaced and cached:true; also recorded as that record's success). Records
	 * whose stored promptHash (the answer identity, core/identity.ts) differs are not reused:
	 * undefined, counted in `notReused` when the same call was answered by another endpoint or
	 * credential, or stored before those were part of the identity.
	 */
	lookup(
		entries: Array<{ recordId: string; promptHash: string }>,
	): Promise<Array<LlmResult | undefined>>;
	/** Stored answers `lookup` did not reuse although they answered the same call, by why. */
	readonly notReused?: NotReused;
	/**
	 * Claims the record for one attempt before it is sent (lease of `leaseMs`, renewed by every
	 * claim of the same checkpoint). Claims asked for in the same event-loop turn share a transaction.
	 */
	claim(recordId: string, promptHash: string, priorIncluded?: boolean): Promise<ClaimState>;
	/** Attempt started: status processing, attempts+1. Grouped with other writes. */
	started(recordId: string, promptHash: string): void;
	/**
	 * A result arrived: durable almost at once — group commit (what arrives while a commit is
	 * running forms the next group), never a timer-based buffer — so a SIGKILL loses at most the
	 * results of the commit in progress.
	 */
	succeeded(result: LlmResult): void;
	failed(recordId: string, promptHash: string, error: ItemError): void;
	/** Resolves when everything handed in so far is committed; rejects with a LedgerStoreError if a write failed. */
	flush(): Promise<void>;
	/**
	 * Resolves when the writes handed in so far are committed — the caller's own group, not
	 * the groups that form after it (unlike flush(), which waits until nothing is pending);
	 * rejects with a LedgerStoreError if that commit failed.
	 */
	committed?(): Promise<void>;
	/**
	 * The failed commit, if any, until flush() retries it. While set, writes are kept in memory
	 * but not committed, so the engine should stop spending (see CheckpointOptions.onError).
	 */
	readonly error?: LedgerStoreError;
}

export type SqliteStoreConfig = {
	kind: 'sqlite';
	/** @default `<N8N_USER_FOLDER or ~>/.n8n/llm-batch-ledger.sqlite` */
	path?: string;
	/** How long a write waits for another process's lock before failing with `store_locked`. @default 5000 */
	busyTimeoutMs?: number;
};

export type PostgresStoreConfig = {
	kind: 'postgres';
	host: string;
	port: number;
	database: string;
	user: string;
	password: string;
	/** `true` verifies the server certificate; an object goes to `pg` as is (e.g. `{ rejectUnauthorized: false }`). */
	ssl?: boolean | object;
	/** @default 4 */
	maxConnections?: number;
	/** How long the pool waits for a connection, per try. @default 10000 */
	connectionTimeoutMs?: number;
	/** How long a piece of work waits out a busy database in all. @default LEDGER_WAIT_MS (postgres-connections.ts) */
	maxWaitMs?: number;
	/** Times those waits (tests pass a fake one). @default the real clock */
	clock?: Clock;
};

export type StoreConfig = SqliteStoreConfig | PostgresStoreConfig;
