/**
 * The heartbeat writer: a beat at the start, one every interval while the run goes, one at the
 * end; a store that fails or hangs never fails or holds the run.
 */
import { describe, expect, it } from 'vitest';

import type {
	HeartbeatCounters,
	HeartbeatRow,
	HeartbeatStore,
} from '../../../core/ledger/heartbeat';
import { FINAL_BEAT_WAIT_MS, Heartbeat } from '../../../core/status/heartbeat';
import { FakeClock } from '../../helpers/fake-clock';

const T0 = Date.parse('2026-03-01T10:00:00.000Z');

class MemoryStore implements HeartbeatStore {
	readonly rows: HeartbeatRow[] = [];
	fail = false;
	hang = false;
	async init() {}
	async beat(row: HeartbeatRow) {
		if (this.hang) return new Promise<void>(() => undefined);
		if (this.fail) throw new Error('store is down');
		this.rows.push(structuredClone(row));
	}
	async read() {
		return { beats: [], samples: [] };
	}
	async deleteJob() {}
	async close() {}
}

const counters = (done: number): HeartbeatCounters => ({
	total: 100,
	reused: 0,
	done,
	succeeded: done,
	failed: 0,
	failedByCode: {},
	retries: 0,
	inputTokens: done * 10,
	outputTokens: done * 2,
	costUsd: done * 0.001,
});

function setup() {
	const clock = new FakeClock(T0);
	const store = new MemoryStore();
	const warnings: string[] = [];
	const beat = new Heartbeat(
		store,
		{ job: 'j', execution: '7', node: 'LLM Batch Call', worker: 'w:1' },
		{ clock, warn: (l) => warnings.push(l) },
	);
	return { clock, store, warnings, beat };
}

describe('Heartbeat', () => {
	it('beats at the start, every 10 s and once at the end, with progress time and recent latencies', async () => {
		const { clock, store, beat } = setup();
		let done = 0;
		let finish!: () => void;
		const run = new Promise<void>((r) => (finish = r));
		const beating = beat.run(() => counters(done), run);
		await clock.advance(0);
		done = 10;
		beat.latency(100);
		beat.latency(300);
		await clock.advance(10_000);
		await clock.advance(10_000); // no progress in this interval
		done = 25;
		await clock.advance(5_000);
		finish();
		await beating;
		await beat.finish('finished', counters(30));

		expect(store.rows.map((r) => [r.beatAt, r.state, r.done, r.lastProgressAt])).toEqual([
			[new Date(T0).toISOString(), 'running', 0, null],
			[new Date(T0 + 10_000).toISOString(), 'running', 10, new Date(T0 + 10_000).toISOString()],
			[new Date(T0 + 20_000).toISOString(), 'running', 10, new Date(T0 + 10_000).toISOString()],
			[new Date(T0 + 25_000).toISOString(), 'finished', 30, new Date(T0 + 25_000).toISOString()],
		]);
		expect(new Set(store.rows.map((r) => r.run)).size).toBe(1);
		expect(store.rows[3]).toMatchObject({
			job: 'j',
			execution: '7',
			worker: 'w:1',
			node: 'LLM Batch Call',
			startedAt: new Date(T0).toISOString(),
			intervalMs: 10_000,
			recentLatenciesMs: [100, 300],
			costUsd: 0.03,
		});
		// Nothing sleeps once the run ended.
		expect(clock.pending).toBe(0);
	});

	it('keeps only the most recent 200 latencies', () => {
		const { beat, store } = setup();
		for (let i = 0; i < 1000; i++) beat.latency(i);
		void beat.finish('finished', counters(0));
		return Promise.resolve().then(async () => {
			await new Promise((r) => setImmediate(r));
			expect(store.rows[0].recentLatenciesMs).toHaveLength(200);
			expect(store.rows[0].recentLatenciesMs[0]).toBe(800);
			expect(store.rows[0].recentLatenciesMs[199]).toBe(999);
		});
	});

	it('a store that fails is told once and the run goes on', async () => {
		const { clock, store, warnings, beat } = setup();
		store.fail = true;
		let finish!: () => void;
		const run = new Promise<void>((r) => (finish = r));
		const beating = beat.run(() => counters(1), run);
		for (let i = 0; i < 5; i++) await clock.advance(10_000);
		finish();
		await beating;
		await beat.finish('finished', counters(2));
		expect(warnings).toHaveLength(1);
		expect(warnings[0]).toContain('store is down');
		expect(warnings[0]).toContain('the run goes on');
	});

	it('a store that hangs holds the end for at most the final wait', async () => {
		const { clock, store, beat } = setup();
		store.hang = true;
		let ended = false;
		const end = beat.finish('finished', counters(2)).then(() => (ended = true));
		await clock.advance(FINAL_BEAT_WAIT_MS - 1);
		expect(ended).toBe(false);
		await clock.advance(1);
		await end;
		expect(ended).toBe(true);
	});

	it('a clock whose sleep passes no time beats at the start and the end only, never in a loop', async () => {
		const store = new MemoryStore();
		const clock = { now: () => T0, sleep: async () => undefined, random: () => 0.5 };
		const beat = new Heartbeat(
			store,
			{ job: 'j', execution: '8', node: 'LLM Batch Job' },
			{ clock, warn: () => undefined },
		);
		let finish!: () => void;
		const run = new Promise<void>((r) => (finish = r));
		const beating = beat.run(() => counters(0), run);
		// Real I/O still gets its turns while the operation runs.
		await new Promise((r) => setTimeout(r, 20));
		finish();
		await beating;
		await beat.finish('finished', counters(1));
		expect(store.rows.map((r) => r.state)).toEqual(['running', 'finished']);
	});
});
