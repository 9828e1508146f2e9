/**
 * Batch Report "From Batch Ledger Job Stats": the report of a job split over many executions,
 * built from the ledger's stats, emitted once, when nothing is pending or processing.
 */
import type { IDataObject } from 'n8n-workflow';
import { describe, expect, it } from 'vitest';

import type { JobStats } from '../../core/ledger';
import { reportOfJobStats } from '../../core/report/job-report';
import { executeBatchReport } from '../../nodes/BatchReport/execute';
import { FakeClock } from '../helpers/fake-clock';
import { mockExecute } from '../helpers/mock-execute';

const stats = (over: Partial<JobStats> = {}): JobStats => ({
	job: 'big',
	total: 100_000,
	pending: 0,
	processing: 0,
	succeeded: 99_990,
	failed: 10,
	attempts: 100_020,
	inputTokens: 2_000_000,
	outputTokens: 300_000,
	costUsd: 0.48,
	errorsByCode: { server_error: 10 },
	firstCreatedAt: '2026-01-01T00:00:00.000Z',
	lastUpdatedAt: '2026-01-01T00:10:00.000Z',
	...over,
});

describe('reportOfJobStats', () => {
	it('accounts for every record of the job once, from the ledger', () => {
		const r = reportOfJobStats(stats(), { minSuccessRate: 0.9999 });
		expect(r).toMatchObject({
			job: 'big',
			complete: true,
			open: 0,
			items: 100_000,
			outcomes: { success: 99_990, failed: 10, review: 0, invalid: 0, filtered: 0, rejected: 0 },
			byErrorCode: { server_error: 10 },
			successRate: 0.9999,
			retries: { items: 0, trips: 0, extraCallAttempts: 20 },
			tokens: { input: 2_000_000, output: 300_000, total: 2_300_000 },
			costUsd: 0.48,
			durationMs: 600_000,
			throughputPerMin: 10_000,
			alerts: [],
		});
		expect(r.markdown).toContain('**Batch report**');
	});

	it('is not complete while records are pending or processing', () => {
		const r = reportOfJobStats(stats({ pending: 1000, processing: 16, succeeded: 98_974 }));
		expect(r.complete).toBe(false);
		expect(r.open).toBe(1016);
	});
});

describe('Batch Report node, From Batch Ledger Job Stats', () => {
	it('a job counting chunks waits, with nothing pending, until every chunk is done', async () => {
		const run = async (json: IDataObject) => {
			const m = mockExecute({
				items: [json],
				parameters: { emitWhen: 'jobStats', alerts: {}, options: {} },
				context: {},
			});
			const out = await executeBatchReport(m.fns, { clock: new FakeClock(0) });
			return { out, hints: m.hints.map((h) => h.message) };
		};
		const early = {
			...stats({ total: 2000, succeeded: 2000, failed: 0 }),
			chunks: 100,
			chunksDone: 2,
		};
		const open = await run(early as unknown as IDataObject);
		expect(open.out).toEqual([[], []]);
		expect(open.hints).toEqual([
			'Job big: 2,000 of 2,000 records registered so far done, 2 of 100 chunks; the report follows when the last chunk finishes',
		]);
		const done = await run({ ...stats(), chunks: 100, chunksDone: 100 } as unknown as IDataObject);
		expect(done.out[0]).toHaveLength(1);
		expect(done.out[0][0].json).toMatchObject({ job: 'big', items: 100_000, complete: true });
	});

	it('waits with a hint while the job is open, then emits one report even when two branches feed it', async () => {
		const context = {};
		const run = async (json: IDataObject) => {
			const m = mockExecute({
				items: [json],
				parameters: { emitWhen: 'jobStats', alerts: {}, options: {} },
				context,
			});
			const out = await executeBatchReport(m.fns, { clock: new FakeClock(0) });
			return { out, hints: m.hints.map((h) => h.message) };
		};
		const open = await run(stats({ pending: 1000, succeeded: 98_990 }) as unknown as IDataObject);
		expect(open.out).toEqual([[], []]);
		expect(open.hints).toEqual([
			'Job big: 99,000 of 100,000 records done; the report follows when the last chunk finishes',
		]);
		const first = await run(stats() as unknown as IDataObject);
		expect(first.out[0]).toHaveLength(1);
		expect(first.out[0][0].json).toMatchObject({ job: 'big', items: 100_000, complete: true });
		expect(first.out[0][0].pairedItem).toEqual([{ item: 0 }]);
		const second = await run(stats() as unknown as IDataObject);
		expect(second.out).toEqual([[], []]);
	});

	it('leaves the report to the execution that claimed it (Batch Ledger: Claim the Job Report)', async () => {
		const m = mockExecute({
			items: [{ ...stats(), reportClaimed: false } as unknown as IDataObject],
			parameters: { emitWhen: 'jobStats', alerts: {}, options: {} },
		});
		expect(await executeBatchReport(m.fns, { clock: new FakeClock(0) })).toEqual([[], []]);
		const won = mockExecute({
			items: [{ ...stats(), reportClaimed: true } as unknown as IDataObject],
			parameters: { emitWhen: 'jobStats', alerts: {}, options: {} },
		});
		const [report] = await executeBatchReport(won.fns, { clock: new FakeClock(0) });
		expect(report).toHaveLength(1);
	});
});
