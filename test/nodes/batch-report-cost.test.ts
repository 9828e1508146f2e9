import type { IDataObject } from 'n8n-workflow';
import { describe, expect, it } from 'vitest';

import { costUsd } from '../../core/cost';
import type { CostTable } from '../../core/report/cost-table';
import { executeBatchReport } from '../../nodes/BatchReport/execute';
import { FakeClock } from '../helpers/fake-clock';
import { mockExecute } from '../helpers/mock-execute';

const T0 = Date.parse('2025-03-01T08:00:00.000Z');
const usage = { inputTokens: 2000, outputTokens: 50 };
const result = (model: string) => ({
	model,
	usage,
	costUsd: costUsd(model, usage),
	attempts: 1,
	latencyMs: 100,
	cached: false,
	completedAt: new Date(T0).toISOString(),
});
const ITEMS: IDataObject[] = [
	{ llm: result('gpt-4o-mini'), validation: { status: 'valid' } },
	{ llm: result('gpt-4o-mini'), strong: result('gpt-4o'), validation: { status: 'valid' } },
];

describe('Batch Report node: cost table', () => {
	it('counts Later Result Fields and prices Compare With Model and Naive Model', async () => {
		const m = mockExecute({
			items: ITEMS,
			parameters: {
				emitWhen: 'eachRun',
				costTable: { compareModel: ' gpt-4o ', naiveModel: 'gpt-4.1-mini' },
				options: { laterResultFields: 'strong, ' },
			},
		});
		const [[report]] = await executeBatchReport(m.fns, { clock: new FakeClock(T0) });
		const t = report.json.costTable as unknown as CostTable;
		expect(t.byModel.map((r) => [r.model, r.answers, r.correct])).toEqual([
			['gpt-4o', 1, 1],
			['gpt-4o-mini', 2, 1],
		]);
		expect(t.costUsd).toBeCloseTo(
			2 * costUsd('gpt-4o-mini', usage)! + costUsd('gpt-4o', usage)!,
			8,
		);
		expect(t.naive!.model).toBe('gpt-4.1-mini');
		expect(t.naive!.costUsd).toBeCloseTo(2 * costUsd('gpt-4.1-mini', usage)!, 8);
		expect(t.alone!.model).toBe('gpt-4o');
		expect(t.alone!.costUsd).toBeCloseTo(2 * costUsd('gpt-4o', usage)!, 8);
	});

	it('without Later Result Fields counts the first call only, and naive is the first model', async () => {
		const m = mockExecute({ items: ITEMS, parameters: { emitWhen: 'eachRun' } });
		const [[report]] = await executeBatchReport(m.fns, { clock: new FakeClock(T0) });
		const t = report.json.costTable as unknown as CostTable;
		expect(t.byModel.map((r) => [r.model, r.answers, r.correct])).toEqual([['gpt-4o-mini', 2, 2]]);
		expect(t.naive!.model).toBe('gpt-4o-mini');
		expect(t).not.toHaveProperty('alone');
	});

	it('refuses a model to compare with that has no list price, before reporting', async () => {
		const m = mockExecute({
			items: ITEMS,
			parameters: { emitWhen: 'eachRun', costTable: { compareModel: 'my-local-model' } },
		});
		await expect(executeBatchReport(m.fns, { clock: new FakeClock(T0) })).rejects.toThrow(
			'Invalid configuration: Compare With Model "my-local-model" has no list price in the package\'s price table; name a known model (e.g. gpt-4o, claude-sonnet-4-5) or leave it empty',
		);
	});
});
