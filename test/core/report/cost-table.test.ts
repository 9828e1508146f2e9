import { describe, expect, it } from 'vitest';

import { costUsd } from '../../../core/cost';
import { REPORT_FIELD_DEFAULTS, reportOfItems, type ReportFields } from '../../../core/report';
import type { CostTable } from '../../../core/report/cost-table';

const T0 = Date.parse('2025-01-01T00:00:00.000Z');
const CHEAP = 'gpt-4o-mini';
const STRONG = 'gpt-4o';
const price = (model: string, inputTokens: number, outputTokens: number) =>
	costUsd(model, { inputTokens, outputTokens })!;

/** A result as LLM Batch Call writes it, priced by the cost meter. */
function answer(model: string, over: Record<string, unknown> = {}) {
	const usage = (over.usage as { inputTokens: number; outputTokens: number }) ?? {
		inputTokens: 1000,
		outputTokens: 100,
	};
	return {
		recordId: 'r',
		output: { category: 'bug' },
		text: '',
		model,
		provider: 'openai',
		finishReason: 'stop',
		usage,
		costUsd: price(model, usage.inputTokens, usage.outputTokens),
		attempts: 1,
		latencyMs: 100,
		cached: false,
		promptHash: 'h',
		completedAt: new Date(T0).toISOString(),
		...over,
	};
}

const CASCADE: ReportFields = { ...REPORT_FIELD_DEFAULTS, laterResultFields: ['strong'] };
const table = (items: object[], fields = REPORT_FIELD_DEFAULTS, more: object = {}) =>
	reportOfItems(items as never, fields, { finishedAt: T0, ...more })!.costTable as CostTable;

describe('cost table', () => {
	it('counts a cascade: both calls paid per model, the last call answers, strong alone priced from the same usage', () => {
		const sure = { llm: answer(CHEAP), validation: { status: 'valid' } };
		const escalated = {
			llm: answer(CHEAP),
			strong: answer(STRONG),
			validation: { status: 'valid' },
		};
		const t = table([sure, sure, sure, escalated], CASCADE, { compareModel: STRONG });
		const cheapUsd = 4 * price(CHEAP, 1000, 100);
		const strongUsd = price(STRONG, 1000, 100);
		const round8 = (x: number) => Math.round(x * 1e8) / 1e8;
		expect(t).toEqual({
			correct: 4,
			costUsd: round8(cheapUsd + strongUsd),
			costPerCorrectUsd: round8((cheapUsd + strongUsd) / 4),
			byModel: [
				{
					model: STRONG,
					answers: 1,
					correct: 1,
					costUsd: round8(strongUsd),
					costPerCorrectUsd: round8(strongUsd),
				},
				{
					model: CHEAP,
					answers: 4,
					correct: 3,
					costUsd: round8(cheapUsd),
					costPerCorrectUsd: round8(cheapUsd / 3),
				},
			],
			naive: {
				model: CHEAP,
				costUsd: round8(cheapUsd),
				costPerCorrectUsd: round8(cheapUsd / 4),
				savedUsd: round8(-strongUsd),
				savedPct: Math.round((-strongUsd / cheapUsd) * 1000) / 10,
			},
			alone: {
				model: STRONG,
				costUsd: round8(4 * strongUsd),
				costPerCorrectUsd: round8(strongUsd),
				savedUsd: round8(4 * strongUsd - cheapUsd - strongUsd),
				savedPct: Math.round(((3 * strongUsd - cheapUsd) / (4 * strongUsd)) * 1000) / 10,
			},
		});
	});

	it('counts only correct answers as correct: Review, Invalid and Failed items are paid but not correct', () => {
		const t = table([
			{ llm: answer(CHEAP), validation: { status: 'valid' } },
			{ llm: answer(CHEAP), validation: { status: 'review' } },
			{
				llm: answer(CHEAP),
				validation: { status: 'invalid' },
				error: { code: 'schema_violation' },
			},
			{ error: { code: 'server_error' } },
		]);
		expect(t.correct).toBe(1);
		expect(t.byModel).toEqual([expect.objectContaining({ model: CHEAP, answers: 3, correct: 1 })]);
		expect(t.costPerCorrectUsd).toBeCloseTo(3 * price(CHEAP, 1000, 100), 10);
		// Naive prices the one correct answer only.
		expect(t.naive!.costUsd).toBeCloseTo(price(CHEAP, 1000, 100), 10);
	});

	it('re-prices naive as lone realtime calls: cached tokens at the input price, a batch answer at list price, a grouped record with its shared instructions', () => {
		const usage = { inputTokens: 1000, outputTokens: 100, cachedInputTokens: 800 };
		const cached = answer(CHEAP, { usage, costUsd: costUsd(CHEAP, usage) });
		const batched = answer(CHEAP, {
			batchId: 'b1',
			costUsd: costUsd(CHEAP, { inputTokens: 1000, outputTokens: 100 }, { batch: true }),
		});
		const grouped = answer(CHEAP, {
			usage: { inputTokens: 150, outputTokens: 20 },
			costUsd: price(CHEAP, 150, 20),
			groupSize: 10,
			soloUsage: { inputTokens: 600, outputTokens: 12 },
		});
		const t = table([{ llm: cached }, { llm: batched }, { llm: grouped }]);
		expect(t.naive!.costUsd).toBeCloseTo(2 * price(CHEAP, 1000, 100) + price(CHEAP, 600, 12), 10);
		expect(t.costUsd).toBeCloseTo(cached.costUsd! + batched.costUsd! + grouped.costUsd, 10);
		expect(t.naive!.savedUsd).toBeGreaterThan(0);
	});

	it("counts a failure's paid answers in the total, on a row of their own (its error names no model)", () => {
		const t = table([
			{ llm: answer(CHEAP) },
			{ error: { code: 'truncated', costUsd: 0.002, usage: { inputTokens: 10, outputTokens: 5 } } },
			{ error: { code: 'server_error' } },
		]);
		expect(t.byModel).toEqual([
			{ model: '(failed, paid)', answers: 1, correct: 0, costUsd: 0.002, costPerCorrectUsd: null },
			expect.objectContaining({ model: CHEAP, answers: 1, correct: 1 }),
		]);
		expect(t.costUsd).toBeCloseTo(0.002 + price(CHEAP, 1000, 100), 10);
		expect(t.correct).toBe(1);
	});

	it('takes the primary model from answers that were no fallback, and leaves naive out for an unknown price', () => {
		const fallback = answer(STRONG, { fallback: 1 });
		const t = table([{ llm: answer(CHEAP) }, { llm: fallback }]);
		expect(t.naive!.model).toBe(CHEAP);
		expect(t.byModel.map((m) => m.model)).toEqual([STRONG, CHEAP]);
		const local = table([{ llm: answer('my-local-model', { costUsd: 0 }) }]);
		expect(local.naive).toBeNull();
		expect(
			table([{ llm: answer(CHEAP) }], REPORT_FIELD_DEFAULTS, { compareModel: 'nope' }).alone,
		).toBeNull();
	});

	it('counts a response-cache hit as correct and free, and naive pays its call', () => {
		const t = table([{ llm: answer(CHEAP, { cached: true }) }]);
		expect(t).toMatchObject({ correct: 1, costUsd: 0, byModel: [] });
		expect(t.naive!.costUsd).toBeCloseTo(price(CHEAP, 1000, 100), 10);
	});

	it('renders one row per model, the total, naive and the model alone', () => {
		const md = reportOfItems(
			[{ llm: answer(CHEAP), strong: answer(STRONG) }, { llm: answer(CHEAP) }] as never,
			CASCADE,
			{ finishedAt: T0, compareModel: STRONG },
		)!.markdown;
		expect(md).toContain(
			'| cost per correct answer | answers paid | correct | cost | per correct | saved by this run |',
		);
		expect(md).toContain(`| ${STRONG} | 1 | 1 | $0.0035 | $0.003500 | |`);
		expect(md).toContain(`| ${CHEAP} | 2 | 1 | $0.0004 | $0.000420 | |`);
		expect(md).toContain('| this run | 3 | 2 | $0.0039 | $0.001960 | |');
		expect(md).toContain(
			`| naive: ${CHEAP}, one realtime call per item, no cache, no grouping | 2 | 2 | $0.0004 | $0.000210 | -$0.0035 (-833.3 %) |`,
		);
		expect(md).toContain(`| ${STRONG} alone | 2 | 2 | $0.0070 | $0.003500 | $0.0031 (44.0 %) |`);
	});
});
