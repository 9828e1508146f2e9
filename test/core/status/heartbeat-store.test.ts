/**
 * The heartbeat tables in both ledger dialects: one row per run updated in place (an ended row
 * or an older beat never overwrites), a sample per beat, thinned past the bound, and deleted
 * with the job.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { closeAllStores, openStore, type LedgerStore } from '../../../core/ledger';
import {
	heartbeatStoreFor,
	MAX_SAMPLES,
	samplesToThin,
	type HeartbeatRow,
} from '../../../core/ledger/heartbeat';
import { createTestDatabase } from '../../helpers/postgres';
import { emptyTally } from '../../../core/status/job-heartbeat';

const T0 = Date.parse('2026-03-01T10:00:00.000Z');
const iso = (ms: number) => new Date(T0 + ms).toISOString();

function row(over: Partial<HeartbeatRow> = {}): HeartbeatRow {
	return {
		job: 'j',
		run: 'run-a',
		execution: '101',
		worker: 'host:1',
		node: 'LLM Batch Call',
		state: 'running',
		startedAt: iso(0),
		beatAt: iso(0),
		lastProgressAt: null,
		intervalMs: 10_000,
		...emptyTally(100),
		recentLatenciesMs: [],
		...over,
	};
}

const dirs: string[] = [];
afterAll(async () => {
	await closeAllStores();
	for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function open(kind: 'sqlite' | 'postgres'): Promise<LedgerStore> {
	if (kind === 'sqlite') {
		const dir = mkdtempSync(join(tmpdir(), 'beats-'));
		dirs.push(dir);
		const store = openStore({ kind, path: join(dir, 'ledger.sqlite') });
		await store.init();
		return store;
	}
	const db = await createTestDatabase('beats');
	const store = openStore({ kind, ...db });
	await store.init();
	return store;
}

describe('samplesToThin', () => {
	it('keeps everything up to the bound, then drops every other of the older two thirds but the first', () => {
		expect(samplesToThin(MAX_SAMPLES)).toEqual([]);
		const drop = samplesToThin(MAX_SAMPLES + 1);
		expect(drop[0]).toBe(1);
		expect(drop).toHaveLength(Math.floor(Math.floor(((MAX_SAMPLES + 1) * 2) / 3) / 2));
		expect(drop.every((i) => i % 2 === 1 && i < ((MAX_SAMPLES + 1) * 2) / 3)).toBe(true);
	});
});

for (const kind of ['sqlite', 'postgres'] as const) {
	describe(`heartbeat store (${kind})`, () => {
		it('upserts one row per run, keeps a sample per beat, and never lets a late or ended beat overwrite', async () => {
			const store = await open(kind);
			const beats = heartbeatStoreFor(store);
			await beats.beat(row());
			await beats.beat(
				row({
					beatAt: iso(10_000),
					lastProgressAt: iso(10_000),
					done: 40,
					succeeded: 38,
					failed: 2,
					failedByCode: { schema_violation: 2 },
					retries: 3,
					inputTokens: 4000,
					outputTokens: 800,
					costUsd: 0.012,
					recentLatenciesMs: [120, 340],
				}),
			);
			await beats.beat(
				row({ run: 'run-b', execution: '102', worker: 'host:2', beatAt: iso(5000) }),
			);
			await beats.beat(
				row({
					beatAt: iso(20_000),
					state: 'finished',
					done: 100,
					succeeded: 98,
					failed: 2,
					failedByCode: { schema_violation: 2 },
				}),
			);
			// Landing after the end (out of order), and an older beat: both ignored.
			await beats.beat(row({ beatAt: iso(25_000), done: 1 }));
			await beats.beat(row({ run: 'run-b', execution: '102', beatAt: iso(1000), done: 9 }));

			const { beats: rows, samples } = await beats.read('j');
			expect(rows.map((r) => [r.run, r.state, r.done, r.beatAt])).toEqual([
				['run-a', 'finished', 100, iso(20_000)],
				['run-b', 'running', 0, iso(5000)],
			]);
			expect(rows[0]).toMatchObject({
				execution: '101',
				worker: 'host:1',
				node: 'LLM Batch Call',
				startedAt: iso(0),
				failedByCode: { schema_violation: 2 },
				intervalMs: 10_000,
			});
			expect(samples.map((s) => [s.run, s.at, s.done])).toEqual([
				['run-a', iso(0), 0],
				['run-b', iso(5000), 0],
				['run-a', iso(10_000), 40],
				['run-a', iso(20_000), 100],
			]);
			expect(samples[2]).toMatchObject({ failedByCode: { schema_violation: 2 }, costUsd: 0.012 });

			await beats.deleteJob('j');
			expect(await beats.read('j')).toEqual({ beats: [], samples: [] });
		});

		it('a 2-hour run beating every 10 s keeps at most the bound of samples, the first and the last among them', async () => {
			const store = await open(kind);
			const beats = heartbeatStoreFor(store);
			for (let i = 0; i <= 720; i++)
				await beats.beat(row({ job: 'long', beatAt: iso(i * 10_000), done: i }));
			const { samples } = await beats.read('long');
			expect(samples.length).toBeLessThanOrEqual(MAX_SAMPLES);
			expect(samples.length).toBeGreaterThan(MAX_SAMPLES / 3);
			expect(samples[0].at).toBe(iso(0));
			expect(samples[samples.length - 1].at).toBe(iso(7_200_000));
			// Denser where recent: the last hour holds more points than the first.
			const firstHour = samples.filter((s) => Date.parse(s.at) < T0 + 3_600_000).length;
			expect(samples.length - firstHour).toBeGreaterThan(firstHour);
		}, 60_000);
	});
}
