/**
 * Job Status from the records and the heartbeats: counts and money from the records, rates,
 * latency and participants from the heartbeats, the series summed over the runs and monotone,
 * the state from who is alive and whether anything moves.
 */
import { describe, expect, it } from 'vitest';

import type { HeartbeatRow, HeartbeatSample } from '../../../core/ledger/heartbeat';
import type { JobStats } from '../../../core/ledger';
import { jobStatus } from '../../../core/status/read';
import { emptyTally } from '../../../core/status/job-heartbeat';

const T0 = Date.parse('2026-03-01T10:00:00.000Z');
const iso = (s: number) => new Date(T0 + s * 1000).toISOString();

function stats(over: Partial<JobStats> = {}): JobStats {
	return {
		job: 'j',
		total: 0,
		pending: 0,
		processing: 0,
		succeeded: 0,
		failed: 0,
		attempts: 0,
		inputTokens: 0,
		outputTokens: 0,
		costUsd: 0,
		errorsByCode: {},
		firstCreatedAt: null,
		lastUpdatedAt: null,
		...over,
	};
}

function beat(over: Partial<HeartbeatRow>): HeartbeatRow {
	return {
		job: 'j',
		run: 'a',
		execution: '1',
		worker: 'w1:10',
		node: 'LLM Batch Call',
		state: 'running',
		startedAt: iso(0),
		beatAt: iso(0),
		lastProgressAt: null,
		intervalMs: 10_000,
		...emptyTally(0),
		recentLatenciesMs: [],
		...over,
	};
}

const sample = (run: string, s: number, done: number, failed = 0): HeartbeatSample => ({
	run,
	at: iso(s),
	done,
	succeeded: done - failed,
	failed,
	failedByCode: failed ? { schema_violation: failed } : {},
	costUsd: done * 0.001,
});

describe('jobStatus', () => {
	it('a job the ledger does not know is not_found', () => {
		const s = jobStatus(stats(), [], [], { now: T0 });
		expect(s).toMatchObject({
			job: 'j',
			state: 'not_found',
			total: 0,
			done: 0,
			successRate: null,
			etaMs: null,
			participants: [],
			series: [],
			latencyMs: { p50: null, p95: null },
		});
	});

	it('two workers at work: records for counts and cost, heartbeats for rates, latency and who takes part', () => {
		// Two runs of 600 items each; each did 1 item/s for 150 s, then 1 every 2 s.
		const samples: HeartbeatSample[] = [];
		const perRun = (s: number) => (s <= 150 ? s : 150 + (s - 150) / 2);
		for (const run of ['a', 'b'])
			for (let s = 0; s < 300; s += 10)
				samples.push(sample(run, s, perRun(s), run === 'a' && s >= 100 ? 2 : 0));
		const last = (run: string, worker: string) =>
			beat({
				run,
				execution: run === 'a' ? '1' : '2',
				worker,
				beatAt: iso(300),
				lastProgressAt: iso(300),
				total: 600,
				done: perRun(300),
				succeeded: perRun(300) - (run === 'a' ? 2 : 0),
				failed: run === 'a' ? 2 : 0,
				failedByCode: run === 'a' ? { schema_violation: 2 } : {},
				retries: run === 'a' ? 7 : 3,
				costUsd: perRun(300) * 0.001,
				recentLatenciesMs: Array.from({ length: 100 }, (_, i) => (run === 'a' ? i + 1 : i + 101)),
			});
		const beats = [last('a', 'w1:10'), last('b', 'w2:20')];
		const records = stats({
			total: 470, // 450 done + 20 in flight: the rest not yet claimed
			processing: 20,
			succeeded: 448,
			failed: 2,
			errorsByCode: { schema_violation: 2 },
			inputTokens: 45_000,
			outputTokens: 9_000,
			costUsd: 0.45,
		});
		const s = jobStatus(records, beats, samples, { now: T0 + 305_000 });
		expect(s).toMatchObject({
			state: 'running',
			// Each run's 600 items: the records do not hold those not claimed yet.
			total: 600,
			done: 450,
			succeeded: 448,
			failed: 2,
			pending: 0,
			processing: 20,
			failedByCode: { schema_violation: 2 },
			retries: 10,
			inputTokens: 45_000,
			outputTokens: 9_000,
			costUsd: 0.45,
			successRate: 448 / 450,
			startedAt: iso(0),
			lastProgressAt: iso(300),
			checkedAt: iso(305),
		});
		// Now: 2 runs × 0.5 item/s = 60/min; overall: 450 in 5 min = 90/min.
		expect(s.throughput.nowPerMinute).toBeCloseTo(60, 6);
		expect(s.throughput.overallPerMinute).toBeCloseTo(90, 6);
		// Time per item doubled: 2 items/s at the start (500 ms), 1 item/s now (1000 ms).
		expect(s.msPerItem.atStart).toBeCloseTo(500, 6);
		expect(s.msPerItem.now).toBeCloseTo(1000, 6);
		expect(s.etaMs).toBeCloseTo(((600 - 450) / 60) * 60_000, 3);
		// A job split into chunks: its size as the watcher knows it.
		expect(
			jobStatus(records, beats, samples, { now: T0 + 305_000, expectedTotal: 5000 }).total,
		).toBe(5000);
		expect(s.latencyMs).toEqual({ p50: 100, p95: 190 });
		expect(s.participants).toEqual([
			{
				execution: '1',
				worker: 'w1:10',
				node: 'LLM Batch Call',
				startedAt: iso(0),
				lastBeatAt: iso(300),
				done: 225,
				state: 'running',
			},
			{
				execution: '2',
				worker: 'w2:20',
				node: 'LLM Batch Call',
				startedAt: iso(0),
				lastBeatAt: iso(300),
				done: 225,
				state: 'running',
			},
		]);
		// One point per beat time (both runs beat together) plus the records' point now.
		expect(s.series).toHaveLength(32);
		expect(s.series[1]).toMatchObject({ at: iso(10), done: 20 });
		expect(s.series[s.series.length - 1]).toEqual({
			at: iso(305),
			done: 450,
			succeeded: 448,
			failed: 2,
			failedByCode: { schema_violation: 2 },
			costUsd: 0.45,
		});
		for (let i = 1; i < s.series.length; i++) {
			expect(s.series[i].done).toBeGreaterThanOrEqual(s.series[i - 1].done);
			expect(s.series[i].costUsd).toBeGreaterThanOrEqual(s.series[i - 1].costUsd);
			expect(Date.parse(s.series[i].at)).toBeGreaterThan(Date.parse(s.series[i - 1].at));
		}
	});

	it('the series is lifted to what the records hold from before the heartbeats (an earlier run)', () => {
		const beats = [
			beat({
				beatAt: iso(20),
				lastProgressAt: iso(20),
				total: 100,
				reused: 50,
				done: 20,
				succeeded: 20,
			}),
		];
		const samples = [sample('a', 0, 0), sample('a', 10, 10)];
		const s = jobStatus(stats({ total: 72, processing: 2, succeeded: 70 }), beats, samples, {
			now: T0 + 21_000,
		});
		expect(s.series.map((p) => p.done)).toEqual([50, 60, 70, 70]);
		expect(s.total).toBe(100);
	});

	it('a job whose runs beat but make no progress for the stall window is stalled; one that stopped beating is silent', () => {
		const quiet = beat({ beatAt: iso(600), lastProgressAt: iso(60), total: 100, done: 40 });
		const samples = [sample('a', 0, 0), sample('a', 60, 40), sample('a', 590, 40)];
		const s = jobStatus(stats({ total: 50, processing: 10, succeeded: 40 }), [quiet], samples, {
			now: T0 + 605_000,
			stallMs: 5 * 60_000,
		});
		expect(s.state).toBe('stalled');
		expect(s.participants[0].state).toBe('running');
		expect(s.throughput.nowPerMinute).toBe(0);

		const gone = jobStatus(stats({ total: 50, processing: 10, succeeded: 40 }), [quiet], samples, {
			now: T0 + 600_000 + 30_001,
		});
		expect(gone.participants[0].state).toBe('silent');
		expect(gone.state).toBe('stalled');
		expect(gone.etaMs).toBeNull();
	});

	it('a run that just started on an old job is running, not stalled, until it had its chance', () => {
		const old = beat({
			run: 'old',
			state: 'finished',
			beatAt: iso(60),
			lastProgressAt: iso(60),
			total: 10,
			done: 10,
			succeeded: 10,
		});
		const fresh = beat({
			run: 'new',
			execution: '2',
			startedAt: iso(3600),
			beatAt: iso(3600),
			total: 20,
		});
		const s = jobStatus(stats({ total: 10, succeeded: 10 }), [old, fresh], [], {
			now: T0 + 3_605_000,
		});
		expect(s.state).toBe('running');
		expect(s.total).toBe(20);
	});

	it('finished: nothing pending or processing and no run alive; the ETA is 0', () => {
		const b = beat({
			state: 'finished',
			beatAt: iso(120),
			lastProgressAt: iso(120),
			total: 100,
			done: 100,
			succeeded: 99,
			failed: 1,
		});
		const s = jobStatus(
			stats({ total: 100, succeeded: 99, failed: 1, errorsByCode: { invalid_request: 1 } }),
			[b],
			[sample('a', 0, 0), sample('a', 60, 50, 1)],
			{ now: T0 + 3_600_000 },
		);
		expect(s).toMatchObject({ state: 'finished', etaMs: 0, done: 100, total: 100 });
		expect(s.participants[0].state).toBe('finished');
		expect(s.throughput).toEqual({ nowPerMinute: 0, overallPerMinute: 50 });
	});
});
