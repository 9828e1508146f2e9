/**
 * The ledger as LLM Batch Call sees it: look up what is already done, then hand in every
 * start, success and failure as it happens. Writes are group-committed: the first write
 * schedules a commit for the end of the current event-loop turn (setImmediate, not a timer
 * delay), and whatever arrives while a commit runs forms the next group. A SIGKILL therefore
 * loses at most the results of one turn / one commit, and 10,000 results cost a handful of
 * transactions instead of 10,000.
 */
import type { Clock, ItemError, LlmResult } from '../types';
import { LedgerStoreError, ledgerError } from './errors';
import type { Checkpoint, LedgerStore, LedgerWrite } from './types';

export interface CheckpointOptions {
	/** Timestamps of the writes. @default Date.now */
	readonly clock?: Pick<Clock, 'now'>;
	/**
	 * Called when a commit fails (store down, locked, full disk): results from then on are not
	 * durable until flush() succeeds, so a caller would typically stop sending requests. Must
	 * not throw.
	 */
	readonly onError?: (error: LedgerStoreError) => void;
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
	}

	get error(): LedgerStoreError | undefined {
		return this.failure;
	}

	private at(): string {
		return new Date(this.now()).toISOString();
	}

	async lookup(
		entries: Array<{ recordId: string; promptHash: string }>,
	): Promise<Map<string, LlmResult>> {
		const out = new Map<string, LlmResult>();
		if (entries.length === 0) return out;
		await this.store.init();
		const stored = await this.store.getMany(
			this.job,
			entries.map((e) => e.recordId),
		);
		const missing: Array<{ recordId: string; promptHash: string }> = [];
		for (const entry of entries) {
			const record = stored.get(entry.recordId);
			if (
				record?.status === 'succeeded' &&
				record.result &&
				record.promptHash === entry.promptHash
			) {
				out.set(entry.recordId, { ...record.result, recordId: entry.recordId, cached: false });
			} else if (entry.promptHash !== '') {
				missing.push(entry);
			}
		}
		if (missing.length === 0) return out;
		const cache = await this.store.cacheGet([...new Set(missing.map((e) => e.promptHash))]);
		for (const entry of missing) {
			const hit = cache.get(entry.promptHash);
			if (!hit) continue;
			const result: LlmResult = { ...hit, recordId: entry.recordId, cached: true };
			out.set(entry.recordId, result);
			// A cache hit is this record's result too: record it so a resumed run (and the
			// job's export) sees the record as done.
			this.enqueue({ type: 'succeeded', result, at: this.at() });
		}
		return out;
	}

	started(recordId: string, promptHash: string): void {
		this.enqueue({ type: 'started', recordId, promptHash, at: this.at() });
	}

	succeeded(result: LlmResult): void {
		this.enqueue({ type: 'succeeded', result, at: this.at() });
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
		while (this.running || this.scheduled || (this.queue.length > 0 && !this.failure)) {
			if (this.queue.length > 0 && !this.running && !this.scheduled) this.schedule();
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
		while (this.queue.length > 0 && !this.failure) {
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
				this.failure =
					error instanceof LedgerStoreError
						? error
						: ledgerError(
								'store_unavailable',
								this.store.label,
								'write results',
								String(error),
								error,
							);
				this.onError?.(this.failure);
				const waiting = this.waiters;
				this.waiters = [];
				for (const w of waiting) w.reject(this.failure);
			}
		}
	}
}

export function createCheckpoint(
	store: LedgerStore,
	job: string,
	options: CheckpointOptions = {},
): Checkpoint {
	return new GroupCommitCheckpoint(store, job, options);
}
