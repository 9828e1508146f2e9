/** What every job-level operation of LLM Batch Job works with: the job's stores, API and clock. */
import type { BatchJobStore } from './store/batches';
import type { LedgerStore } from '../ledger/types';
import type { Clock } from '../types';
import type { BatchApi } from './types';

export interface JobContext {
	readonly api: BatchApi;
	readonly store: LedgerStore;
	readonly batches: BatchJobStore;
	readonly job: string;
	readonly clock: Pick<Clock, 'now'>;
	/** Tells what adoption after a crash decided (the node shows it as a hint and logs it). */
	readonly log?: (message: string) => void;
	/** n8n's execution ID: the job's heartbeat names this operation's run by it. */
	readonly execution?: string;
}
