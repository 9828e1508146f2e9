/**
 * The ledger as LLM Batch Call sees it: look up what is already done, then hand in every
 * start, success and failure as it happens. Writes are group-committed: the first write
 * schedules a commit for the end of the current event-loop turn (setImmediate, not a timer
 * delay), and whatever arrives while a commit runs forms the next group. A SIGKILL therefore
 * loses at most the results of one turn / one commit, and 10,000 results cost a handful of
 * transactions instead of 10,000.
 */
import { sha256, stableStringify } from '../hash';
import {
	countNotReused,
	storedAnswerVerdict,
	type NotReused,
	type StoredAnswerVerdict,
} from '../identity';
import type { Clock, ItemError, LlmResult } from '../types';
import { DEFAULT_LEASE_MS, claimOwner, claimRecords } from './claims';
import { LedgerStoreError, ledgerError } from './errors';
import type { Checkpoint, ClaimState, LedgerStore, LedgerWrite } from './types';

/**
 * The response cache (off unless given): answers reused for the same call under another
 * record ID, or by a rerun. Keyed by the answer identity (`promptHash`, core/identity.ts):
 * provider, endpoint and credential fingerprint are part of it, so a dry run never answers
 * for the real endpoint.
 */
export interface ResponseCacheOptions {
	/** Reuse answers stored by other jobs (for the same identity) too. @default false: this job only */
	readonly crossJob?: boolean;
}

export { DEFAULT_LEASE_MS, claimOwner, ownerIsDead } from './claims';

export interface CheckpointOptions {
	/** Timestamps of the writes. @default Date.now */
	readonly clock?: Pick<Clock, 'now'>;
	/**
	 * Called when a commit fails (store down, locked, full disk): results from then on are not
	 * durable until flush() succeeds, so a caller would typically stop sending requests. Must
	 * not throw.
	 */
	readonly onError?: (error: LedgerStoreError) => void;
	/** Response cache; absent = off. */
	readonly cache?: ResponseCacheOptions;
	/**
	 * How long a claim holds a record for this checkpoint before another execution may take it
	 * over (a crashed worker's claims expire after this). @default DEFAULT_LEASE_MS
	 */
	readonly leaseMs?: number;
	/** Who claims (unique per execution). @default a random UUID */
	readonly owner?: string;
}

interface PendingClaim {
	recordId: string;
	promptHash: string;
	priorIncluded: boolean;
	resolve: (state: ClaimState) => void;
	reject: (error: unknown) => void;
}

class GroupCommitCheckpoint implements Checkpoint {
	private queue: LedgerWrite[] = [];
	private running: Promise<void> | undefined;
	private scheduled = false;
	/** Writes handed in / committed so far (monotonic), and who waits for which. */
	private enqueued = 0;
	private done = 0;
	private waiters: Array<{ upTo: number; resolve: () => void; reject: (e: unknown) => void }> = [];
	/** The first failed commit; its writes stay queued and the next flush() tries them again. */
	private failure: LedgerStoreError | undefined;
	private readonly now: () => number;
	private readonly onError: ((error: LedgerStoreError) => void) | undefined;
	private claims: PendingClaim[] = [];
	private readonly owner: string;
	private readonly leaseMs: number;
	private readonly cache: ResponseCacheOptions | undefined;

	constructor(
		private readonly store: LedgerStore,
		private readonly job: string,
		options: CheckpointOptions,
	) {
		if (typeof job !== 'string' || job.trim() === '') {
			throw new TypeError('Expected `job` to be a non-empty string');
		}
		const clock = options.clock;
		this.now = clock ? () => clock.now() : () => Date.now();
		this.onError = options.onError;
		this.owner = options.owner ?? claimOwner();
		this.leaseMs = options.leaseMs ?? DEFAULT_LEASE_MS;
		if (!(this.leaseMs > 0))
			throw new TypeError(`Expected \`leaseMs\` to be > 0, got ${options.leaseMs}`);
		this.cache = options.cache;
	}

	/** The keys a result of `promptHash` is cached under: this job's, and the shared one. */
	private cacheKeys(promptHash: string): string[] {
		if (!this.cache || promptHash === '') return [];
		return [this.cacheKey(promptHash, false), this.cacheKey(promptHash, true)];
	}

	// v2: keyed by the answer identity alone. Entries stored under the earlier key (a scope
	// beside the pre-scope hash) are not found: paid once more, like any answer whose endpoint
	// is unknown (core/identity.ts).
	private cacheKey(promptHash: string, crossJob: boolean): string {
		return sha256(stableStringify(['response-cache/v2', crossJob ? '*' : this.job, promptHash]));
	}

	/** Stored answers `lookup` found but could not use, by why (the node's hint says it). */
	get notReused(): NotReused {
		const out: NotReused = { otherScope: 0, beforeScope: 0 };
		for (const verdict of this.notReusedById.values()) countNotReused(out, verdict);
		return out;
	}

	/** By record: a record looked up twice (a group, then alone) counts once. */
	private readonly notReusedById = new Map<string, StoredAnswerVerdict>();

	get error(): LedgerStoreError | undefined {
		return this.failure;
	}

	private at(): string {
		return new Date(this.now()).toISOString();
	}

	async lookup(
		entries: Array<{ recordId: string; promptHash: string }>,
	): Promise<Array<LlmResult | undefined>> {
		const out: Array<LlmResult | undefined> = new Array(entries.length).fill(undefined);
		if (entries.length === 0) return out;
		await this.store.init();
		const stored = await this.store.getMany(
			this.job,
			entries.map((e) => e.recordId),
		);
		// By position, never by record ID alone: two items may share a record ID with different
		// prompts, and each must get its own prompt's answer.
		const missing: number[] = [];
		entries.forEach((entry, pos) => {
			const record = stored.get(entry.recordId);
			const verdict =
				record?.status === 'succeeded' && record.result
					? storedAnswerVerdict(record.promptHash, entry.promptHash)
					: undefined;
			if (verdict === 'reuse') {
				out[pos] = { ...record!.result!, recordId: entry.recordId, cached: false };
				return;
			}
			if (verdict === 'other_scope' || verdict === 'before_scope')
				this.notReusedById.set(entry.recordId, verdict);
			if (entry.promptHash !== '') missing.push(pos);
		});
		if (missing.length === 0 || !this.cache) return out;
		const crossJob = this.cache.crossJob === true;
		const keyOf = (pos: number) => this.cacheKey(entries[pos].promptHash, crossJob);
		const cache = await this.store.cacheGet([...new Set(missing.map(keyOf))]);
		for (const pos of missing) {
			const hit = cache.get(keyOf(pos));
			if (!hit) continue;
			const entry = entries[pos];
			const result: LlmResult = {
				...hit,
				recordId: entry.recordId,
				promptHash: entry.promptHash,
				cached: true,
			};
			out[pos] = result;
			// A cache hit is this record's result too: record it so a resumed run (and the
			// job's export) sees the record as done. No claim comes first: a record still failed
			// from an earlier execution keeps what that failure paid. The job totals count the
			// hit itself as nothing paid (`cached`).
			this.enqueue({ type: 'succeeded', result, at: this.at(), foldPrior: true });
		}
		return out;
	}

	claim(recordId: string, promptHash: string, priorIncluded = false): Promise<ClaimState> {
		return new Promise<ClaimState>((resolve, reject) => {
			this.claims.push({ recordId, promptHash, priorIncluded, resolve, reject });
			this.schedule();
		});
	}

	started(recordId: string, promptHash: string): void {
		this.enqueue({ type: 'started', recordId, promptHash, at: this.at() });
	}

	succeeded(result: LlmResult): void {
		this.enqueue({
			type: 'succeeded',
			result,
			at: this.at(),
			cacheKeys: this.cacheKeys(result.promptHash),
		});
	}

	failed(recordId: string, promptHash: string, error: ItemError): void {
		this.enqueue({ type: 'failed', recordId, promptHash, error, at: this.at() });
	}

	async flush(): Promise<void> {
		if (this.failure) {
			// Try the writes that failed once more; a store that is still down rejects again.
			this.failure = undefined;
			this.schedule();
		}
		while (
			this.running ||
			this.scheduled ||
			((this.queue.length > 0 || this.claims.length > 0) && !this.failure)
		) {
			if ((this.queue.length > 0 || this.claims.length > 0) && !this.running && !this.scheduled)
				this.schedule();
			await (this.running ?? new Promise<void>((resolve) => setImmediate(resolve)));
		}
		if (this.failure) throw this.failure;
	}

	committed(): Promise<void> {
		const upTo = this.enqueued;
		if (this.done >= upTo) return Promise.resolve();
		if (this.failure) return this.flush();
		return new Promise<void>((resolve, reject) => this.waiters.push({ upTo, resolve, reject }));
	}

	private settle(): void {
		let i = 0;
		while (i < this.waiters.length && this.waiters[i].upTo <= this.done)
			this.waiters[i++].resolve();
		if (i > 0) this.waiters.splice(0, i);
	}

	private enqueue(write: LedgerWrite): void {
		this.enqueued++;
		this.queue.push(write);
		// After a failure nothing commits until flush(): a store that is down would otherwise be
		// retried on every write. The writes stay queued, nothing is dropped.
		if (!this.failure) this.schedule();
	}

	private schedule(): void {
		if (this.scheduled || this.running) return;
		this.scheduled = true;
		setImmediate(() => {
			this.scheduled = false;
			this.running = this.drain().finally(() => {
				this.running = undefined;
			});
		});
	}

	private async drain(): Promise<void> {
		while ((this.queue.length > 0 && !this.failure) || this.claims.length > 0) {
			if (this.queue.length > 0 && !this.failure) {
				const group = this.queue;
				this.queue = [];
				try {
					await this.store.writeBatch(this.job, group);
					this.done += group.length;
					this.settle();
				} catch (error) {
					// Keep the group in front of anything that arrived meanwhile: order matters for
					// the fold (a start followed by its success).
					this.queue = group.concat(this.queue);
					this.failure = this.asStoreError(error, 'write results');
					this.onError?.(this.failure);
					const waiting = this.waiters;
					this.waiters = [];
					for (const w of waiting) w.reject(this.failure);
				}
			}
			// Claims after the writes handed in before them (a record's failure, then its next claim).
			if (this.claims.length > 0) await this.commitClaims();
		}
	}

	private async commitClaims(): Promise<void> {
		const group = this.claims;
		this.claims = [];
		if (this.failure) {
			// Nothing is claimed while results cannot be stored: nothing new may be sent.
			for (const c of group) c.reject(this.failure);
			return;
		}
		try {
			await this.store.init();
			const states = await claimRecords(
				this.store,
				this.job,
				group.map((c) => ({
					recordId: c.recordId,
					promptHash: c.promptHash,
					...(c.priorIncluded ? { priorIncluded: true } : {}),
				})),
				this.owner,
				this.now(),
				this.leaseMs,
			);
			for (const c of group) {
				const state = states.get(c.recordId);
				if (state) c.resolve(state);
				else c.reject(new Error(`unreachable: no claim state for ${c.recordId}`));
			}
		} catch (error) {
			const failure = this.asStoreError(error, 'claim records');
			for (const c of group) c.reject(failure);
		}
	}

	private asStoreError(error: unknown, action: string): LedgerStoreError {
		return error instanceof LedgerStoreError
			? error
			: ledgerError('store_unavailable', this.store.label, action, String(error), error);
	}
}

export function createCheckpoint(
	store: LedgerStore,
	job: string,
	options: CheckpointOptions = {},
): Checkpoint {
	return new GroupCommitCheckpoint(store, job, options);
}
