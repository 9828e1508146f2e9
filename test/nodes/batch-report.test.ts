import type { IDataObject } from 'n8n-workflow';
import { NodeOperationError } from 'n8n-workflow';
import { describe, expect, it } from 'vitest';

import { BatchReport } from '../../nodes/BatchReport/BatchReport.node';
import { executeBatchReport } from '../../nodes/BatchReport/execute';
import { FakeClock } from '../helpers/fake-clock';
import { mockExecute } from '../helpers/mock-execute';

const T0 = Date.parse('2025-03-01T08:00:00.000Z');
const iso = (ms: number) => new Date(T0 + ms).toISOString();
const stamp = (seq: number) => ({ id: 'run-x', total: 4, seq, startedAt: iso(0) });
const llm = (latencyMs: number) => ({
	usage: { inputTokens: 50, outputTokens: 5 },
	costUsd: 0.5,
	attempts: 1,
	latencyMs,
	cached: false,
	completedAt: iso(1000),
});

const ITEMS: IDataObject[] = [
	{ llm: llm(100), validation: { status: 'valid' }, batchRun: stamp(0) },
	{ error: { code: 'invalid_input', message: 'x' }, batchRun: stamp(1) },
	{
		error: { code: 'server_error', message: 'x', attempts: 2 },
		retry: { attempts: 3, exhausted: true },
		batchRun: stamp(2),
	},
	{ llm: llm(300), validation: { status: 'review' }, batchRun: stamp(3) },
];

describe('Batch Report node', () => {
	it('declares one input and Report and Alert outputs', () => {
		const d = new BatchReport().description;
		expect(d.name).toBe('batchReport');
		expect(d.inputs).toEqual(['main']);
		expect(d.outputNames).toEqual(['Report', 'Alert']);
	});

	it('collects a run over several node runs and emits one report when it is complete', async () => {
		const context = {};
		const clock = new FakeClock(T0 + 120_000);
		const parameters = { alerts: { minSuccessRatePct: 50, maxCostUsd: 10 } };

		const first = mockExecute({ items: ITEMS.slice(0, 2), parameters, context });
		expect(await executeBatchReport(first.fns, { clock })).toEqual([[], []]);
		expect(first.hints).toEqual([
			{
				message: 'Run run-x: 2 of 4 items in so far; the report follows when all have arrived',
				type: 'info',
				location: 'outputPane',
			},
		]);

		const second = mockExecute({ items: ITEMS.slice(2), parameters, context });
		const [report, alert] = await executeBatchReport(second.fns, { clock });
		expect(report).toHaveLength(1);
		expect(report[0].pairedItem).toEqual([{ item: 0 }, { item: 1 }]);
		expect(report[0].json).toMatchObject({
			runId: 'run-x',
			items: 4,
			outcomes: { success: 1, review: 1, invalid: 0, failed: 1, filtered: 0, rejected: 1 },
			byErrorCode: { invalid_input: 1, server_error: 1 },
			successRate: 0.3333,
			retries: { items: 1, trips: 3, extraCallAttempts: 1 },
			tokens: { input: 100, output: 10, total: 110 },
			costUsd: 1,
			latencyMs: { p50: 100, p95: 300, max: 300 },
			durationMs: 120_000,
			throughputPerMin: 1.5,
			alerts: [
				{
					rule: 'minSuccessRate',
					threshold: 0.5,
					actual: 0.3333,
					message: 'Success rate 33.3 % is below 50.0 %',
				},
			],
		});
		expect(alert).toEqual(report);

		// a late duplicate does not make a second report
		const third = mockExecute({ items: [ITEMS[0]], parameters, context });
		expect(await executeBatchReport(third.fns, { clock })).toEqual([[], []]);
		expect(third.hints[0].message).toBe(
			'1 item(s) arrived after their run was reported and were not counted',
		);
	});

	it('reports each node run on its own when asked, without alerts below thresholds', async () => {
		const m = mockExecute({
			items: ITEMS,
			parameters: { emitWhen: 'eachRun', alerts: { minSuccessRatePct: 10 } },
		});
		const [report, alert] = await executeBatchReport(m.fns, { clock: new FakeClock(T0 + 60_000) });
		expect(report).toHaveLength(1);
		expect(report[0].json).toMatchObject({
			runId: 'run-x',
			items: 4,
			durationMs: 60_000,
			alerts: [],
		});
		expect(report[0].pairedItem).toEqual([{ item: 0 }, { item: 1 }, { item: 2 }, { item: 3 }]);
		expect(alert).toEqual([]);
	});

	it('warns from its second node run in an execution that each report it gave holds only part of the run', async () => {
		const warning = (runs: number, how: string) => ({
			message: `Batch Report ran ${runs} times in this execution and reported ${how} apart, so each report holds part of the run: several branches or retry rounds feed it. Set Emit Report to "When the Whole Run Has Arrived" and stamp the run with Batch Prepare (or Collect Results) before the LLM call, for one report of the run.`,
			type: 'warning',
			location: 'outputPane',
		});
		const clock = new FakeClock(T0 + 60_000);
		const eachRun = { emitWhen: 'eachRun' };
		const context = {};
		const runs = [ITEMS.slice(0, 1), ITEMS.slice(1, 3), ITEMS.slice(3)].map((items) =>
			mockExecute({ items, parameters: eachRun, context }),
		);
		for (const m of runs) expect((await executeBatchReport(m.fns, { clock }))[0]).toHaveLength(1);
		expect(runs.map((m) => m.hints)).toEqual([
			[],
			[warning(2, 'the items of each node run')],
			[warning(3, 'the items of each node run')],
		]);

		// Items no run stamp counts are reported per node run in the default mode too.
		const unstamped = ITEMS.map(({ batchRun: _, ...json }) => json);
		const shared = {};
		const plain = [unstamped.slice(0, 2), unstamped.slice(2)].map((items) =>
			mockExecute({ items, parameters: {}, context: shared }),
		);
		for (const m of plain) expect((await executeBatchReport(m.fns, { clock }))[0]).toHaveLength(1);
		expect(plain.map((m) => m.hints)).toEqual([
			[],
			[warning(2, 'the unstamped items of each node run')],
		]);
	});

	it('throws on an out-of-range threshold', async () => {
		const m = mockExecute({ items: ITEMS, parameters: { alerts: { minSuccessRatePct: 150 } } });
		await expect(executeBatchReport(m.fns)).rejects.toBeInstanceOf(NodeOperationError);
	});
});
