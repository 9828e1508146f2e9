import { describe, expect, it } from 'vitest';

import { cachePlanner } from '../../core/call/cache';
import { anthropicUsage } from '../../core/call/providers/bodies';
import { cacheSavingsUsd, costUsd } from '../../core/cost';
import { minCacheableTokens } from '../../core/models';

describe('prompt caching: pricing by provider rules', () => {
	it('OpenAI: cached input at the model cached price, no write premium', () => {
		// gpt-4o-mini: 0.15 input, 0.075 cached, 0.6 output per 1M
		const u = { inputTokens: 2_000_000, outputTokens: 1_000_000, cachedInputTokens: 1_000_000 };
		expect(costUsd('gpt-4o-mini', u)).toBe(0.15 + 0.075 + 0.6);
		expect(cacheSavingsUsd('gpt-4o-mini', u)).toBe(0.075);
	});

	it('Anthropic: reads 0.1x, 5-minute writes 1.25x, 1-hour writes 2x', () => {
		// claude-sonnet-4-5: 3 input, 15 output per 1M
		const M = 1_000_000;
		expect(
			costUsd('claude-sonnet-4-5', { inputTokens: M, outputTokens: 0, cachedInputTokens: M }),
		).toBe(0.3);
		expect(
			costUsd('claude-sonnet-4-5', { inputTokens: M, outputTokens: 0, cacheWriteTokens: M }),
		).toBe(3.75);
		expect(
			costUsd('claude-sonnet-4-5', {
				inputTokens: 3 * M,
				outputTokens: 0,
				cacheWriteTokens: 2 * M,
				cacheWrite1hTokens: M,
			}),
		).toBe(3 + 3.75 + 6);
		// a write costs more than it saves on its own
		expect(
			cacheSavingsUsd('claude-sonnet-4-5', {
				inputTokens: M,
				outputTokens: 0,
				cacheWriteTokens: M,
			}),
		).toBe(-0.75);
	});

	it('reads Anthropic usage: input_tokens excludes cache reads and writes', () => {
		expect(
			anthropicUsage({
				input_tokens: 50,
				output_tokens: 7,
				cache_read_input_tokens: 3000,
				cache_creation_input_tokens: 0,
			}),
		).toEqual({ inputTokens: 3050, outputTokens: 7, cachedInputTokens: 3000 });
		expect(
			anthropicUsage({
				input_tokens: 50,
				output_tokens: 7,
				cache_read_input_tokens: 0,
				cache_creation_input_tokens: 3000,
				cache_creation: { ephemeral_5m_input_tokens: 0, ephemeral_1h_input_tokens: 3000 },
			}),
		).toEqual({
			inputTokens: 3050,
			outputTokens: 7,
			cacheWriteTokens: 3000,
			cacheWrite1hTokens: 3000,
		});
	});
});

describe('prompt caching: when to mark the prefix', () => {
	it('knows the minimum cacheable length per model', () => {
		expect(minCacheableTokens('claude-sonnet-4-5')).toBe(1024);
		expect(minCacheableTokens('claude-opus-4-1-20250805')).toBe(1024);
		expect(minCacheableTokens('claude-3-5-haiku-latest')).toBe(2048);
		expect(minCacheableTokens('claude-3-haiku-20240307')).toBe(2048);
		expect(minCacheableTokens('claude-haiku-4-5')).toBe(4096);
		expect(minCacheableTokens('claude-opus-4-5')).toBe(4096);
		expect(minCacheableTokens('gpt-4o-mini')).toBe(1024);
	});

	it('marks only a prefix long enough for the model, with the TTL and (OpenAI) a stable key', () => {
		const long = 'x'.repeat(4 * 2100);
		const haiku35 = cachePlanner({
			provider: 'anthropic',
			model: 'claude-3-5-haiku-latest',
			ttl: '1h',
			schemaTokens: 0,
		});
		expect(haiku35('short')).toBeUndefined();
		expect(haiku35('x'.repeat(4 * 1500))).toBeUndefined(); // 1,500 < 2,048
		expect(haiku35(long)).toEqual({ marker: { ttl: '1h' }, prefixTokens: 2100 });
		const sonnet = cachePlanner({
			provider: 'anthropic',
			model: 'claude-sonnet-4-5',
			ttl: '5m',
			schemaTokens: 100,
		});
		expect(sonnet('x'.repeat(4 * 1000))?.prefixTokens).toBe(1100); // schema counts toward the prefix
		const oa = cachePlanner({
			provider: 'openai',
			model: 'gpt-4o-mini',
			ttl: '5m',
			schemaTokens: 0,
		});
		const a = oa(long);
		expect(a?.marker.key).toMatch(/^llm-batch-[0-9a-f]{32}$/);
		expect(oa(long)).toBe(a);
		expect(oa(`${long}!`)?.marker.key).not.toBe(a?.marker.key);
	});
});
