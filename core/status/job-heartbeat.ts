/**
 * LLM Batch Job's heartbeat: each operation (Submit, Check Status, Collect Results) that works
 * on a ledger job beats for it — at the start, every interval while it runs (a large Submit or
 * Collect takes minutes), at the end — so Job Status lists it among the job's executions. Only
 * Collect finishes records; its outcomes are counted as they are emitted.
 */
import { randomUUID } from 'node:crypto';

import { jobHeartbeat } from './heartbeat';
import { systemClock } from '../clock';
import type { HeartbeatCounters } from '../ledger/heartbeat/types';
import type { LedgerStore } from '../ledger/types';
import type { Clock, ItemError, LlmResult } from '../types';

/** What a batch operation needs to beat: its job, ledger and clock (`sleep` for the interval beats). */
export interface BeatingJob {
	readonly store: LedgerStore;
	readonly job: string;
	readonly clock: Pick<Clock, 'now'> & Partial<Pick<Clock, 'sleep'>>;
	/** n8n's execution ID. */
	readonly execution?: string;
	readonly log?: (message: string) => void;
}

export function emptyTally(total = 0): HeartbeatCounters {
	return {
		total,
		reused: 0,
		done: 0,
		succeeded: 0,
		failed: 0,
		failedByCode: {},
		retries: 0,
		inputTokens: 0,
		outputTokens: 0,
		costUsd: 0,
	};
}

/** One record finished by the operation: its outcome, tokens and cost. */
export function tallyOutcome(
	t: HeartbeatCounters,
	o: { ok: true; result: LlmResult } | { ok: false; error: ItemError },
): void {
	t.done++;
	const paid = o.ok ? o.result : o.error;
	if (o.ok) t.succeeded++;
	else {
		t.failed++;
		t.failedByCode[o.error.code] = (t.failedByCode[o.error.code] ?? 0) + 1;
	}
	t.inputTokens += paid.usage?.inputTokens ?? 0;
	t.outputTokens += paid.usage?.outputTokens ?? 0;
	t.costUsd += paid.costUsd ?? 0;
}

/**
 * Runs `work` with the job's heartbeat beating from `tally` (which `work` fills as it goes);
 * `finished` when it resolves, `stopped` when it throws. A heartbeat that cannot be written
 * never changes what `work` returns or throws.
 */
export async function withJobHeartbeat<T>(
	ctx: BeatingJob,
	tally: HeartbeatCounters,
	work: () => Promise<T>,
): Promise<T> {
	const { sleep } = ctx.clock;
	const clock: Clock = {
		now: () => ctx.clock.now(),
		// A clock that only tells the time (a test's): the interval on real timers, which the
		// end of the operation clears.
		sleep: sleep ? (ms, signal) => sleep.call(ctx.clock, ms, signal) : systemClock.sleep,
		random: Math.random,
	};
	const heartbeat = jobHeartbeat(
		ctx.store,
		{ job: ctx.job, execution: ctx.execution ?? randomUUID(), node: 'LLM Batch Job' },
		{ clock, warn: (line) => ctx.log?.(line) },
	);
	if (!heartbeat) return work();
	const done = work();
	void heartbeat.run(() => tally, done);
	const state = await done.then(
		() => 'finished' as const,
		() => 'stopped' as const,
	);
	await heartbeat.finish(state, tally);
	// As it resolved or rejected.
	return done;
}
