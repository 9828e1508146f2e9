import { describe, expect, it } from 'vitest';

import { costUsd, PRICES, priceFor, pricesAsOf } from '../../core/cost';

describe('priceFor', () => {
	it('finds exact ids', () => {
		expect(priceFor('gpt-4o-mini')).toEqual({
			inputPer1M: 0.15,
			outputPer1M: 0.6,
			batchDiscount: 0.5,
			cachedInputPer1M: 0.075,
			tiers: { priority: { inputPer1M: 0.25, outputPer1M: 1, cachedInputPer1M: 0.125 } },
		});
		expect(priceFor('claude-sonnet-4-5')).toEqual({
			inputPer1M: 3,
			outputPer1M: 15,
			batchDiscount: 0.5,
			cachedInputPer1M: 0.3,
			cacheWritePer1M: 3.75,
			cacheWrite1hPer1M: 6,
		});
	});

	it('strips OpenAI and Anthropic date suffixes and -latest', () => {
		expect(priceFor('gpt-4o-mini-2024-07-18')).toBe(PRICES['gpt-4o-mini']);
		expect(priceFor('claude-3-5-haiku-20241022')).toBe(PRICES['claude-3-5-haiku']);
		expect(priceFor('claude-3-5-sonnet-latest')).toBe(PRICES['claude-3-5-sonnet']);
		expect(priceFor('claude-sonnet-4-20250514')).toBe(PRICES['claude-sonnet-4']);
		expect(priceFor('claude-haiku-4-5-20251001')).toBe(PRICES['claude-haiku-4-5']);
	});

	it('falls back to the longest known prefix at a dash boundary', () => {
		expect(priceFor('gpt-4o-mini-search-preview')).toBe(PRICES['gpt-4o-mini']);
		expect(priceFor('gpt-4.1-mini-custom')).toBe(PRICES['gpt-4.1-mini']);
		// gpt-4o must never be priced as gpt-4.
		expect(priceFor('gpt-4o')).toBe(PRICES['gpt-4o']);
		expect(priceFor('gpt-4o-audio')).toBe(PRICES['gpt-4o']);
	});

	it('ignores case and a provider/ prefix', () => {
		expect(priceFor('OpenAI/GPT-4.1')).toBe(PRICES['gpt-4.1']);
	});

	it('is undefined for unknown models', () => {
		expect(priceFor('llama-3.1-70b')).toBeUndefined();
		expect(priceFor('gpt4o')).toBeUndefined();
	});

	it('prefers overrides', () => {
		const overrides = {
			'my-model': { inputPer1M: 1, outputPer1M: 2 },
			'GPT-4o': { inputPer1M: 9, outputPer1M: 9 },
		};
		expect(priceFor('my-model-20250101', overrides)).toEqual({ inputPer1M: 1, outputPer1M: 2 });
		expect(priceFor('gpt-4o', overrides)).toEqual({ inputPer1M: 9, outputPer1M: 9 });
		expect(priceFor('gpt-4o-mini', overrides)).toBe(PRICES['gpt-4o-mini']);
	});

	it('carries a date and covers the current model families', () => {
		expect(pricesAsOf).toMatch(/^\d{4}-\d{2}-\d{2}$/);
		for (const model of [
			'gpt-4o',
			'gpt-4o-mini',
			'gpt-4.1',
			'gpt-4.1-mini',
			'gpt-4.1-nano',
			'o3',
			'o4-mini',
			'gpt-5',
			'gpt-5-mini',
			'gpt-5-nano',
			'claude-3-5-haiku',
			'claude-3-5-sonnet',
			'claude-3-7-sonnet',
			'claude-sonnet-4',
			'claude-opus-4',
			'claude-haiku-4-5',
			'claude-sonnet-4-5',
		]) {
			expect(priceFor(model), model).toBeDefined();
		}
	});
});

describe('costUsd', () => {
	it('multiplies tokens by the per-1M prices', () => {
		// 1M in * 0.15 + 1M out * 0.6
		expect(costUsd('gpt-4o-mini', { inputTokens: 1_000_000, outputTokens: 1_000_000 })).toBe(0.75);
		expect(costUsd('claude-sonnet-4-5', { inputTokens: 1000, outputTokens: 200 })).toBe(0.006);
	});

	it('applies the batch discount only when asked', () => {
		const usage = { inputTokens: 2_000_000, outputTokens: 500_000 };
		expect(costUsd('gpt-4.1', usage)).toBe(8);
		expect(costUsd('gpt-4.1', usage, { batch: true })).toBe(4);
	});

	it('keeps the realtime price in batch mode when the model has no batch discount', () => {
		expect(
			costUsd('chatgpt-4o-latest', { inputTokens: 1_000_000, outputTokens: 0 }, { batch: true }),
		).toBe(5);
	});

	it('is undefined for unknown models', () => {
		expect(costUsd('mystery', { inputTokens: 10, outputTokens: 10 })).toBeUndefined();
	});

	it('uses overrides', () => {
		expect(
			costUsd(
				'local-llm',
				{ inputTokens: 1_000_000, outputTokens: 1_000_000 },
				{ overrides: { 'local-llm': { inputPer1M: 0, outputPer1M: 0 } } },
			),
		).toBe(0);
	});

	it('has no binary-float noise', () => {
		expect(costUsd('gpt-4o-mini', { inputTokens: 1, outputTokens: 1 })).toBe(0.00000075);
	});
});
