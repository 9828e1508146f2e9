import type { Clock } from '../../../core/types';

/** Injection points for tests; n8n itself passes nothing. */
export interface PrepareDeps {
	clock?: Clock;
	/** The run ID stamped on every item (default: execution ID + random suffix). */
	runId?: () => string;
}
