import type { JobStatus, JobStatusSample } from '../../../core/status/types';

export const T0 = Date.parse('2026-12-06T10:00:00.000Z');
export const iso = (ms: number) => new Date(T0 + ms).toISOString();

/** A sample every 30 s: 60 items a minute (30 a sample), one in ten failing schema_violation. */
export function series(points: number, perSample = 30): JobStatusSample[] {
	return Array.from({ length: points }, (_, i): JobStatusSample => {
		const done = i * perSample;
		const failed = Math.floor(done / 10);
		return {
			at: iso(i * 30_000),
			done,
			succeeded: done - failed,
			failed,
			failedByCode: (failed > 0 ? { schema_violation: failed } : {}) as Record<string, number>,
			costUsd: done * 0.001,
		};
	});
}

/** A job 10 minutes in: 600 of 2,000 done, two workers. */
export function runningStatus(over: Partial<JobStatus> = {}): JobStatus {
	return {
		job: 'tickets-2026-12',
		state: 'running',
		total: 2000,
		done: 600,
		succeeded: 540,
		failed: 60,
		pending: 1384,
		processing: 16,
		failedByCode: { schema_violation: 45, rate_limited: 15 },
		retries: 12,
		inputTokens: 120_000,
		outputTokens: 9_000,
		costUsd: 0.6,
		successRate: 0.9,
		throughput: { nowPerMinute: 60, overallPerMinute: 60 },
		latencyMs: { p50: 850, p95: 2100 },
		msPerItem: { atStart: 1000, now: 1000 },
		etaMs: 1_400_000,
		startedAt: iso(0),
		lastProgressAt: iso(600_000),
		checkedAt: iso(605_000),
		participants: [
			{
				execution: '101',
				worker: 'worker-a:4242',
				node: 'LLM Batch Call',
				startedAt: iso(0),
				lastBeatAt: iso(600_000),
				done: 350,
				state: 'running',
			},
			{
				execution: '102',
				worker: 'worker-b:4343',
				node: 'LLM Batch Call',
				startedAt: iso(5_000),
				lastBeatAt: iso(601_000),
				done: 250,
				state: 'running',
			},
		],
		series: series(21),
		...over,
	};
}
