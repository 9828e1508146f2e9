import { describe, expect, it } from 'vitest';

import {
	buildReport,
	classify,
	collect,
	percentile,
	REPORT_FIELD_DEFAULTS,
	reportOfItems,
	toEntry,
	type CollectorState,
} from '../../../core/report';

const T0 = Date.parse('2025-01-01T00:00:00.000Z');
const iso = (ms: number) => new Date(T0 + ms).toISOString();
const llm = (over: Record<string, unknown> = {}) => ({
	recordId: 'r',
	output: { label: 'bug' },
	text: '',
	model: 'gpt-4o-mini',
	provider: 'openai',
	finishReason: 'stop',
	usage: { inputTokens: 100, outputTokens: 10 },
	costUsd: 0.001,
	attempts: 1,
	latencyMs: 200,
	cached: false,
	promptHash: 'h',
	completedAt: iso(1000),
	...over,
});
const stamp = (seq: number, total = 6) => ({ id: 'run-1', total, seq, startedAt: iso(0) });

/** One item per outcome, as the example pipeline emits them. */
function pipelineItems(total = 6) {
	return [
		{ llm: llm(), validation: { status: 'valid' }, batchRun: stamp(0, total) },
		{
			llm: llm({ latencyMs: 400, attempts: 3 }),
			validation: { status: 'review', reason: 'low' },
			retry: { attempts: 1 },
			batchRun: stamp(1, total),
		},
		{
			llm: llm({ latencyMs: 600 }),
			validation: { status: 'invalid' },
			error: { code: 'schema_violation', message: 'x' },
			batchRun: stamp(2, total),
		},
		{
			error: { code: 'server_error', message: 'x', attempts: 5, history: [] },
			retry: { attempts: 3, exhausted: true },
			batchRun: stamp(3, total),
		},
		{ error: { code: 'content_filter', message: 'x', attempts: 1 }, batchRun: stamp(4, total) },
		{ error: { code: 'invalid_input', message: 'x', attempts: 0 }, batchRun: stamp(5, total) },
	];
}

describe('classify', () => {
	it('maps every pipeline output to its outcome', () => {
		expect(pipelineItems().map((j) => classify(j))).toEqual([
			{ outcome: 'success' },
			{ outcome: 'review' },
			{ outcome: 'invalid', errorCode: 'schema_violation' },
			{ outcome: 'failed', errorCode: 'server_error' },
			{ outcome: 'filtered', errorCode: 'content_filter' },
			{ outcome: 'rejected', errorCode: 'invalid_input' },
		]);
		expect(classify({ error: { code: 'duplicate' } })).toEqual({
			outcome: 'rejected',
			errorCode: 'duplicate',
		});
		expect(classify({ error: 'plain message' })).toEqual({
			outcome: 'failed',
			errorCode: 'unknown',
		});
		expect(classify({ foo: 1 })).toEqual({ outcome: 'failed', errorCode: 'unknown' });
	});
});

describe('toEntry', () => {
	it('keeps only what the report needs', () => {
		expect(toEntry(pipelineItems()[1])).toEqual({
			outcome: 'review',
			retries: 1,
			extraCallAttempts: 2,
			inputTokens: 100,
			outputTokens: 10,
			costUsd: 0.001,
			latencyMs: 400,
			completedAt: T0 + 1000,
			// An answer sent to Review was paid, but is no correct answer: no naive usage.
			paid: { 'gpt-4o-mini': { usd: 0.001, answers: 1 } },
			primaryModel: 'gpt-4o-mini',
		});
		expect(toEntry(pipelineItems()[3])).toEqual({
			outcome: 'failed',
			errorCode: 'server_error',
			retries: 3,
			extraCallAttempts: 4,
			inputTokens: 0,
			outputTokens: 0,
		});
	});

	it('leaves cached answers out of the latency percentiles', () => {
		expect(toEntry({ llm: llm({ cached: true }) }).latencyMs).toBeUndefined();
	});

	it('counts a response-cache hit as nothing spent: no tokens, cost 0, its answer’s cost saved', () => {
		const hit = llm({
			cached: true,
			costUsd: 0.002,
			usage: { inputTokens: 100, outputTokens: 10, cachedInputTokens: 50 },
		});
		expect(toEntry({ llm: hit })).toEqual({
			outcome: 'success',
			retries: 0,
			extraCallAttempts: 0,
			inputTokens: 0,
			outputTokens: 0,
			costUsd: 0,
			responseCacheSavedUsd: 0.002,
			model: 'gpt-4o-mini',
			completedAt: T0 + 1000,
			// Nothing paid now, but a naive run would have paid the answer's own call.
			primaryModel: 'gpt-4o-mini',
			solo: { inputTokens: 100, outputTokens: 10 },
		});
		const r = reportOfItems([{ llm: llm() }, { llm: hit }, { llm: hit }], REPORT_FIELD_DEFAULTS, {
			finishedAt: T0 + 2000,
		})!;
		expect(r.tokens).toEqual({ input: 100, output: 10, total: 110 });
		expect(r.costUsd).toBe(0.001);
		expect(r.costUnknownItems).toBe(0);
		expect(r.responseCache).toEqual({ items: 2, savedUsd: 0.004 });
		expect(r.cache).toEqual({ readTokens: 0, writeTokens: 0, savedUsd: 0 });
		expect(r.markdown).toContain('| response cache | 2 answers reused, $0.0040 saved |');
		// Without hits the field is absent.
		expect(
			reportOfItems([{ llm: llm() }], REPORT_FIELD_DEFAULTS, { finishedAt: T0 }),
		).not.toHaveProperty('responseCache');
	});
});

describe('percentile', () => {
	it('uses the nearest rank', () => {
		const xs = Array.from({ length: 100 }, (_, i) => i + 1);
		expect(percentile(xs, 50)).toBe(50);
		expect(percentile(xs, 95)).toBe(95);
		expect(percentile([7], 95)).toBe(7);
		expect(percentile([], 50)).toBeNull();
	});
});

describe('buildReport', () => {
	it('totals outcomes, codes, retries, tokens, cost, latency, duration and throughput', () => {
		const report = buildReport(
			pipelineItems().map((j) => toEntry(j)),
			{ runId: 'run-1', startedAt: iso(0), finishedAt: T0 + 60_000 },
		);
		expect(report).toEqual({
			runId: 'run-1',
			items: 6,
			outcomes: { success: 1, review: 1, invalid: 1, failed: 1, filtered: 1, rejected: 1 },
			byErrorCode: { schema_violation: 1, server_error: 1, content_filter: 1, invalid_input: 1 },
			successRate: 0.2,
			retries: { items: 2, trips: 4, extraCallAttempts: 6 },
			tokens: { input: 300, output: 30, total: 330 },
			cache: { readTokens: 0, writeTokens: 0, savedUsd: 0 },
			answersByModel: { 'gpt-4o-mini': 1 },
			costUsd: 0.003,
			costUnknownItems: 0,
			batchApi: null,
			// Three answers paid (success, review, invalid), one correct; the fixture's cost
			// (0.001 each) is far above gpt-4o-mini's price of the naive usage (100 in, 10 out).
			costTable: {
				correct: 1,
				costUsd: 0.003,
				costPerCorrectUsd: 0.003,
				byModel: [
					{
						model: 'gpt-4o-mini',
						answers: 3,
						correct: 1,
						costUsd: 0.003,
						costPerCorrectUsd: 0.003,
					},
				],
				naive: {
					model: 'gpt-4o-mini',
					costUsd: 0.000021,
					costPerCorrectUsd: 0.000021,
					savedUsd: -0.002979,
					savedPct: -14185.7,
				},
			},
			latencyMs: { p50: 400, p95: 600, max: 600 },
			startedAt: iso(0),
			finishedAt: iso(60_000),
			durationMs: 60_000,
			throughputPerMin: 5,
			alerts: [],
			markdown: expect.any(String),
		});
		expect(report.markdown).toContain('| success | 1 | 16.7 % |');
		expect(report.markdown).toContain('| server_error | 1 |');
		expect(report.markdown).toContain('| latency p50 / p95 | 400 ms / 600 ms |');
		expect(report.markdown).toContain('| duration | 1m 0s |');
	});

	it('derives the duration from results when no start stamp exists', () => {
		const report = buildReport(
			[
				toEntry({ llm: llm({ completedAt: iso(1000), latencyMs: 500 }) }),
				toEntry({ llm: llm({ completedAt: iso(3000), latencyMs: 500 }) }),
			],
			{ finishedAt: T0 + 99_000 },
		);
		expect(report.durationMs).toBe(2500);
		expect(report.startedAt).toBe(iso(500));
		expect(report.finishedAt).toBe(iso(3000));
	});

	it('raises alerts for success rate, one error code and cost', () => {
		const report = buildReport(
			pipelineItems().map((j) => toEntry(j)),
			{
				finishedAt: T0,
				thresholds: { minSuccessRate: 0.9, maxErrorShare: 0.1, maxCostUsd: 0.002 },
			},
		);
		expect(report.alerts).toEqual([
			{
				rule: 'minSuccessRate',
				threshold: 0.9,
				actual: 0.2,
				message: 'Success rate 20.0 % is below 90.0 %',
			},
			{
				rule: 'maxErrorShare',
				threshold: 0.1,
				actual: 0.2,
				errorCode: 'schema_violation',
				message: 'schema_violation hit 20.0 % of processed items (limit 10.0 %)',
			},
			{
				rule: 'maxErrorShare',
				threshold: 0.1,
				actual: 0.2,
				errorCode: 'server_error',
				message: 'server_error hit 20.0 % of processed items (limit 10.0 %)',
			},
			{
				rule: 'maxErrorShare',
				threshold: 0.1,
				actual: 0.2,
				errorCode: 'content_filter',
				message: 'content_filter hit 20.0 % of processed items (limit 10.0 %)',
			},
			{
				rule: 'maxCostUsd',
				threshold: 0.002,
				actual: 0.003,
				message: 'Cost $0.0030 is above $0.0020',
			},
		]);
		expect(report.markdown).toContain('**ALERT:** Success rate 20.0 % is below 90.0 %');
		expect(
			buildReport(
				pipelineItems().map((j) => toEntry(j)),
				{ finishedAt: T0, thresholds: { minSuccessRate: 0.1, maxErrorShare: 0.5, maxCostUsd: 1 } },
			).alerts,
		).toEqual([]);
	});

	it('handles an empty or all-rejected run', () => {
		const report = buildReport([toEntry({ error: { code: 'duplicate' } })], {
			finishedAt: T0,
			thresholds: { minSuccessRate: 0.9 },
		});
		expect(report.successRate).toBeNull();
		// Nothing succeeded: always an alert.
		expect(report.alerts.map((a) => a.rule)).toEqual(['noSuccess']);
		expect(report.throughputPerMin).toBeNull();
	});
});

describe('collect', () => {
	it('waits across node runs until the whole run has arrived, then reports once', () => {
		const items = pipelineItems();
		const state: CollectorState = {};
		const first = collect(state, [items[0], items[5]]);
		expect(first).toEqual({
			complete: [],
			unscoped: [],
			pending: [{ runId: 'run-1', seen: 2, total: 6 }],
			late: 0,
		});
		const second = collect(state, [items[3], items[4]]);
		expect(second.complete).toEqual([]);
		const third = collect(state, [items[1], items[2]]);
		expect(third.pending).toEqual([]);
		expect(third.complete).toHaveLength(1);
		expect(third.complete[0].runId).toBe('run-1');
		expect(third.complete[0].entries.map((e) => e.outcome).sort()).toEqual([
			'failed',
			'filtered',
			'invalid',
			'rejected',
			'review',
			'success',
		]);
		expect(collect(state, [items[0]])).toEqual({
			complete: [],
			unscoped: [],
			pending: [],
			late: 1,
		});
	});

	it('counts an item that arrives twice once, keeping the later outcome', () => {
		const state: CollectorState = {};
		const failedFirst = {
			error: { code: 'malformed_output' },
			validation: { status: 'invalid' },
			batchRun: stamp(0, 2),
		};
		const validLater = { llm: llm(), batchRun: stamp(0, 2) };
		expect(collect(state, [failedFirst]).complete).toEqual([]);
		expect(collect(state, [validLater]).complete).toEqual([]);
		const done = collect(state, [{ error: { code: 'duplicate' }, batchRun: stamp(1, 2) }]);
		expect(done.complete[0].entries.map((e) => e.outcome)).toEqual(['success', 'rejected']);
	});

	it('reports items without a run stamp per call', () => {
		const state: CollectorState = {};
		const out = collect(state, [{ llm: llm() }, { error: { code: 'timeout' } }]);
		expect(out.unscoped.map((e) => e.outcome)).toEqual(['success', 'failed']);
		expect(out.complete).toEqual([]);
	});

	it('keeps separate runs apart', () => {
		const state: CollectorState = {};
		const a = { llm: llm(), batchRun: { id: 'a', total: 1, seq: 0 } };
		const b = { llm: llm(), batchRun: { id: 'b', total: 2, seq: 0 } };
		const out = collect(state, [a, b]);
		expect(out.complete.map((c) => c.runId)).toEqual(['a']);
		expect(out.pending).toEqual([{ runId: 'b', seen: 1, total: 2 }]);
	});
});

describe('reportOfItems', () => {
	const stamp = (id: string, startedAt: string) => ({
		batchRun: { id, total: 2, seq: 0, startedAt },
	});
	it('names the run when every item carries the same stamp, and starts at the earliest', () => {
		const r = reportOfItems(
			[stamp('run-1', '2026-01-01T00:00:05Z'), stamp('run-1', '2026-01-01T00:00:01Z')],
			REPORT_FIELD_DEFAULTS,
			{ finishedAt: 0 },
		);
		expect(r?.runId).toBe('run-1');
		expect(r?.items).toBe(2);
		expect(r?.startedAt).toBe('2026-01-01T00:00:01.000Z');
	});
	it('leaves the run unnamed for mixed stamps, and reports nothing for no items', () => {
		expect(
			reportOfItems([stamp('a', 'x'), stamp('b', 'y')], REPORT_FIELD_DEFAULTS, { finishedAt: 0 })
				?.runId,
		).toBeNull();
		expect(reportOfItems([], REPORT_FIELD_DEFAULTS, { finishedAt: 0 })).toBeUndefined();
	});
});

describe('buildReport with batch API results', () => {
	it('shows what the batch run cost and what the same tokens would have cost in realtime', () => {
		const usage = { inputTokens: 1_000_000, outputTokens: 100_000 };
		const batchItem = {
			llm: {
				model: 'gpt-4o-mini',
				usage,
				costUsd: 0.105,
				batchId: 'batch_1',
				latencyMs: 3_600_000,
			},
		};
		const realtimeItem = { llm: { model: 'gpt-4o-mini', usage, costUsd: 0.21, latencyMs: 800 } };
		const r = buildReport([toEntry(batchItem), toEntry(batchItem), toEntry(realtimeItem)], {
			finishedAt: 0,
		});
		expect(r.batchApi).toEqual({ items: 2, costUsd: 0.21, realtimeCostUsd: 0.42, savedUsd: 0.21 });
		expect(r.costUsd).toBe(0.42);
		// The hour in the provider's queue is not a call latency.
		expect(r.latencyMs).toEqual({ p50: 800, p95: 800, max: 800 });
		expect(r.markdown).toContain(
			'| batch API | 2 items: $0.2100 (realtime would be $0.4200, saved $0.2100) |',
		);
	});
});

describe('buildReport: prompt cache and answers per model', () => {
	it('sums cached and written tokens, prices the savings and counts answers per model', () => {
		const a = toEntry({
			llm: llm({
				model: 'claude-sonnet-4-5',
				usage: { inputTokens: 1_000_000, outputTokens: 0, cachedInputTokens: 1_000_000 },
			}),
		});
		const b = toEntry({
			llm: llm({
				model: 'claude-sonnet-4-5',
				usage: { inputTokens: 1_000_000, outputTokens: 0, cacheWriteTokens: 1_000_000 },
			}),
		});
		const c = toEntry({ llm: llm({ model: 'gpt-4o-mini' }) });
		expect(a.cacheSavedUsd).toBe(2.7);
		expect(b.cacheSavedUsd).toBe(-0.75);
		const r = buildReport([a, b, c], { finishedAt: T0 });
		expect(r.cache).toEqual({ readTokens: 1_000_000, writeTokens: 1_000_000, savedUsd: 1.95 });
		expect(r.answersByModel).toEqual({ 'claude-sonnet-4-5': 2, 'gpt-4o-mini': 1 });
		expect(r.markdown).toContain(
			'| prompt cache | 1000000 tokens read, 1000000 written, $1.95 saved |',
		);
		expect(r.markdown).toContain('| answers per model | claude-sonnet-4-5: 2, gpt-4o-mini: 1 |');
	});
});
