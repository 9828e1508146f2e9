/**
 * Batch Report attaches the run's charts (outcomes, failures by code, throughput over time,
 * cost by model) as a PNG in the report item's binary data, for a Slack or email node.
 */
import type { IBinaryData, IDataObject } from 'n8n-workflow';
import { describe, expect, it } from 'vitest';

import { executeBatchReport } from '../../nodes/BatchReport/execute';
import { FakeClock } from '../helpers/fake-clock';
import { mockExecute } from '../helpers/mock-execute';

const T0 = Date.parse('2025-03-01T08:00:00.000Z');
const iso = (ms: number) => new Date(T0 + ms).toISOString();
const stamp = (seq: number, total: number) => ({ id: 'run/x 1', total, seq, startedAt: iso(0) });
const ok = (seq: number, total: number): IDataObject => ({
	llm: {
		model: 'gpt-4o-mini',
		usage: { inputTokens: 50, outputTokens: 5 },
		costUsd: 0.01,
		attempts: 1,
		latencyMs: 100,
		cached: false,
		completedAt: iso(1000 + seq * 1000),
	},
	batchRun: stamp(seq, total),
});
const failed = (seq: number, total: number): IDataObject => ({
	error: { code: 'schema_violation', message: 'x', attempts: 1 },
	batchRun: stamp(seq, total),
});
const ITEMS = [ok(0, 4), ok(1, 4), failed(2, 4), ok(3, 4)];

function png(binary: IBinaryData): { width: number; height: number; bytes: number } {
	const bytes = Buffer.from(binary.data, 'base64');
	expect(bytes.subarray(1, 4).toString()).toBe('PNG');
	return { width: bytes.readUInt32BE(16), height: bytes.readUInt32BE(20), bytes: bytes.length };
}

describe('Batch Report charts', () => {
	it('attaches a PNG of the run to the report item, and to its Alert item', async () => {
		const m = mockExecute({ items: ITEMS, parameters: { alerts: { minSuccessRatePct: 90 } } });
		const [report, alert] = await executeBatchReport(m.fns, { clock: new FakeClock(T0 + 10_000) });
		expect(report).toHaveLength(1);
		expect(Object.keys(report[0].binary ?? {})).toEqual(['chart']);
		const chart = report[0].binary!.chart;
		expect({ ...chart, data: undefined }).toEqual({
			data: undefined,
			mimeType: 'image/png',
			fileName: 'batch-report-run_x_1.png',
			fileExtension: 'png',
			fileSize: `${Buffer.from(chart.data, 'base64').length} B`,
		});
		expect(png(chart)).toMatchObject({ width: 1200 });
		expect(alert).toHaveLength(1);
		expect(alert[0].binary).toEqual(report[0].binary);
		expect(alert[0].json).toBe(report[0].json);
	});

	it('puts the chart under the property asked for, or none when it is empty', async () => {
		const named = mockExecute({
			items: ITEMS,
			parameters: { options: { chartProperty: 'runChart' } },
		});
		const [[withName]] = await executeBatchReport(named.fns, { clock: new FakeClock(T0) });
		expect(Object.keys(withName.binary ?? {})).toEqual(['runChart']);

		const off = mockExecute({ items: ITEMS, parameters: { options: { chartProperty: ' ' } } });
		const [[without]] = await executeBatchReport(off.fns, { clock: new FakeClock(T0) });
		expect(without.binary).toBeUndefined();
		expect(without.json).toEqual(withName.json);
	});

	it('draws a ledger job report too, from its totals', async () => {
		const m = mockExecute({
			items: [
				{
					job: 'big',
					total: 100,
					pending: 0,
					processing: 0,
					succeeded: 90,
					failed: 10,
					attempts: 100,
					inputTokens: 1000,
					outputTokens: 100,
					costUsd: 0.5,
					errorsByCode: { server_error: 10 },
					firstCreatedAt: iso(0),
					lastUpdatedAt: iso(60_000),
				},
			],
			parameters: { emitWhen: 'jobStats' },
		});
		const [report] = await executeBatchReport(m.fns, { clock: new FakeClock(T0) });
		expect(report[0].binary?.chart.fileName).toBe('batch-report-big.png');
		expect(png(report[0].binary!.chart).width).toBe(1200);
	});
});
