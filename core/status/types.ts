/**
 * A job's live status, as any workflow reads it from the ledger while the job runs (Batch
 * Ledger → Job Status): what the ledger's records say (done / total, failures by code, paid
 * tokens and cost) joined with what the executions working on the job report in their
 * heartbeats (retries, latency, throughput, who takes part). Rendered as JSON items, as the
 * status page (HTML with inline SVG charts) and read by the watchdog example.
 */

/** One point of the job's progress over time, for the throughput and failure charts. */
export interface JobStatusSample {
	/** ISO time of the heartbeat(s) folded into this point. */
	at: string;
	/** Records with a final status at that time (succeeded + failed). */
	done: number;
	succeeded: number;
	failed: number;
	/** Failed records by error code at that time. */
	failedByCode: Record<string, number>;
	costUsd: number;
}

/** One execution taking part in the job (an LLM Batch Call or LLM Batch Job run). */
export interface JobParticipant {
	/** n8n's execution ID (or a process-unique ID outside n8n). */
	execution: string;
	/** Host and process of the n8n instance or queue-mode worker running it. */
	worker: string;
	node: 'LLM Batch Call' | 'LLM Batch Job';
	startedAt: string;
	lastBeatAt: string;
	/** Items this execution finished (either way). */
	done: number;
	/** `silent`: no heartbeat for three intervals and not finished (the process may be gone). */
	state: 'running' | 'finished' | 'stopped' | 'silent';
}

export interface JobStatus {
	job: string;
	/**
	 * `running`: a participant beat within three intervals; `stalled`: records left but no
	 * progress for the stall window; `finished`: nothing pending or processing; `not_found`:
	 * the ledger knows no such job.
	 */
	state: 'running' | 'stalled' | 'finished' | 'not_found';
	total: number;
	/** succeeded + failed. */
	done: number;
	succeeded: number;
	failed: number;
	pending: number;
	processing: number;
	failedByCode: Record<string, number>;
	/** Attempts beyond the first, summed over the participants' heartbeats. */
	retries: number;
	inputTokens: number;
	outputTokens: number;
	costUsd: number;
	/** succeeded / done; null before anything is done. */
	successRate: number | null;
	throughput: {
		/** Items per minute over the last minute or two of heartbeats. */
		nowPerMinute: number;
		/** Items per minute since the job's first heartbeat. */
		overallPerMinute: number;
	};
	/** Per-item latency (send to final answer) over the participants' recent items. */
	latencyMs: { p50: number | null; p95: number | null };
	/** Time per item now vs over the job's first minutes (the watchdog's "doubled" check). */
	msPerItem: { atStart: number | null; now: number | null };
	/** Time the rest needs at the current rate; null when unknown, 0 when finished. */
	etaMs: number | null;
	startedAt: string | null;
	lastProgressAt: string | null;
	/** ISO time this status was read. */
	checkedAt: string;
	participants: JobParticipant[];
	/** Ordered by time, at most a few hundred points (older ones thinned). */
	series: JobStatusSample[];
}
