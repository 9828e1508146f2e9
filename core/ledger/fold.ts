/**
 * Folds a batch of writes into one net change per record. Both stores then need only one
 * upsert per record and group (Postgres rejects a multi-row `ON CONFLICT DO UPDATE` that
 * touches the same row twice), and the result equals applying the writes one by one.
 */
import type { ItemError, LlmResult } from '../types';
import type { LedgerWrite, RecordStatus } from './types';

export interface NetChange {
	recordId: string;
	/**
	 * insert: create as pending only if absent;
	 * touch: status, prompt hash and attempts change, error and result are kept;
	 * final: status, prompt hash, attempts, error and result all change.
	 */
	kind: 'insert' | 'touch' | 'final';
	status: RecordStatus;
	attemptsDelta: number;
	promptHash: string;
	lastError: ItemError | null;
	result: LlmResult | null;
	at: string;
	/**
	 * A final change that must first keep what a stored `failed` row paid (see `foldPriorPaid`):
	 * the write asked for it (a response-cache hit), or a start in the same batch — which on
	 * its own would have folded it — was merged into this change.
	 */
	foldPrior: boolean;
}

export interface FoldedBatch {
	changes: NetChange[];
	/** Results to offer to the response cache, first per cache key. */
	cache: Array<{ key: string; result: LlmResult }>;
}

/** Whether a final write merged into `current` must keep a stored failure's cost apart. */
function foldsBefore(current: NetChange | undefined): boolean {
	return current !== undefined && (current.foldPrior || current.kind === 'touch');
}

export function foldWrites(writes: readonly LedgerWrite[]): FoldedBatch {
	const byId = new Map<string, NetChange>();
	const cache = new Map<string, LlmResult>();
	for (const write of writes) {
		const recordId = write.type === 'succeeded' ? write.result.recordId : write.recordId;
		const current = byId.get(recordId);
		switch (write.type) {
			case 'pending':
				if (!current) {
					byId.set(recordId, {
						recordId,
						kind: 'insert',
						status: 'pending',
						attemptsDelta: 0,
						promptHash: '',
						lastError: null,
						result: null,
						at: write.at,
						foldPrior: false,
					});
				}
				break;
			case 'started':
				byId.set(recordId, {
					recordId,
					kind: current?.kind === 'final' ? 'final' : 'touch',
					status: 'processing',
					attemptsDelta: (current?.attemptsDelta ?? 0) + 1,
					promptHash: write.promptHash,
					lastError: current?.lastError ?? null,
					result: current?.result ?? null,
					at: write.at,
					foldPrior: current?.foldPrior ?? false,
				});
				break;
			case 'succeeded':
				byId.set(recordId, {
					recordId,
					kind: 'final',
					status: 'succeeded',
					attemptsDelta: (current?.attemptsDelta ?? 0) + (write.attemptsDelta ?? 0),
					promptHash: write.result.promptHash,
					lastError: null,
					result: write.result,
					at: write.at,
					foldPrior: write.foldPrior === true || foldsBefore(current),
				});
				for (const key of write.cacheKeys ?? []) {
					if (!cache.has(key)) cache.set(key, write.result);
				}
				break;
			case 'failed':
				byId.set(recordId, {
					recordId,
					kind: 'final',
					status: 'failed',
					attemptsDelta: (current?.attemptsDelta ?? 0) + (write.attemptsDelta ?? 0),
					promptHash: write.promptHash,
					lastError: write.error,
					// A failed attempt leaves no usable result: an older one belonged to another prompt.
					result: null,
					at: write.at,
					foldPrior: foldsBefore(current),
				});
				break;
		}
	}
	return {
		changes: [...byId.values()],
		cache: [...cache].map(([key, result]) => ({ key, result })),
	};
}

/** The writes that mark records started: what `markProcessing` commits, in either dialect. */
export function startedWrites(
	entries: ReadonlyArray<{ recordId: string; promptHash: string }>,
	at: string,
): LedgerWrite[] {
	return entries.map((e) => ({
		type: 'started',
		recordId: e.recordId,
		promptHash: e.promptHash,
		at,
	}));
}
