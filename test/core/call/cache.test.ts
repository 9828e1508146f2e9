import { describe, expect, it } from 'vitest';

import { cachePlanner, markSharedPromptPrefix, sharedPromptPrefix } from '../../../core/call/cache';
import { anthropicMessageParams, anthropicUsage } from '../../../core/call/providers/bodies';
import { anthropicCachePlan, PromptCache } from '../../../sandbox/cache';
import { cacheSavingsUsd, costUsd } from '../../../core/cost';
import { minCacheableTokens } from '../../../core/models';

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

describe("prompt caching: a breakpoint on the prompts' shared prefix (Anthropic)", () => {
	const HEAD = 'Classify by the rules below.\n'.repeat(60); // 1,740 chars ~ 435 tokens, ends in \n

	it('finds the shared lines: the longest common prefix cut at its last line break', () => {
		expect(sharedPromptPrefix([`${HEAD}ticket 1`, `${HEAD}ticket 2`])).toBe(HEAD.length - 1);
		// the common prefix runs into the record ("ticket "): cut back to the line break
		expect(sharedPromptPrefix([`${HEAD}ticket 1\nmore`, `${HEAD}ticket 22`])).toBe(HEAD.length - 1);
		// one prompt, or nothing shared up to a line break: no prefix
		expect(sharedPromptPrefix([`${HEAD}ticket 1`])).toBe(0);
		expect(sharedPromptPrefix(['abc\nx', 'abd\nx'])).toBe(0);
		// a prompt that is only the shared lines leaves nothing after the cut: cut one line earlier
		const p = sharedPromptPrefix([HEAD.slice(0, -1), `${HEAD}x`]);
		expect(p).toBe(HEAD.lastIndexOf('\n', HEAD.length - 2));
	});

	it('the request body: the shared lines as their own text block with a breakpoint, the system prompt with one too (2 of 4)', () => {
		const prompt = `${HEAD}ticket 1`;
		const cut = HEAD.length - 1;
		const body = anthropicMessageParams({
			model: 'claude-sonnet-4',
			system: 'S',
			prompt,
			maxTokens: 10,
			cache: { ttl: '1h', promptPrefixChars: cut },
		});
		const cc = { type: 'ephemeral', ttl: '1h' };
		expect(body.system).toEqual([{ type: 'text', text: 'S', cache_control: cc }]);
		expect(body.messages).toEqual([
			{
				role: 'user',
				content: [
					{ type: 'text', text: HEAD.slice(0, -1), cache_control: cc },
					{ type: 'text', text: 'ticket 1' },
				],
			},
		]);
		expect(JSON.stringify(body).split('cache_control').length - 1).toBe(2);
		// without caching the prompt is one string, whatever the marker says
		expect(anthropicMessageParams({ model: 'm', prompt, maxTokens: 10 }).messages[0].content).toBe(
			prompt,
		);
	});

	it('marks items only when tools + system + shared lines reach the model minimum', () => {
		const make = (model: string, system: string) => {
			const items = [1, 2, 3].map((i) => ({
				request: { model, system, prompt: `${HEAD}ticket ${i}`, maxTokens: 10 },
				cachePrefixTokens: undefined as number | undefined,
			}));
			const marked = markSharedPromptPrefix(items, {
				provider: 'anthropic',
				model,
				ttl: '5m',
				schemaTokens: 100,
			});
			return { marked, items };
		};
		const long = 'x'.repeat(2400); // 600 tokens: + 100 schema + 435 shared >= 1,024
		const { marked, items } = make('claude-sonnet-4', long);
		expect(marked).toBe(3);
		expect(items[0].request).toMatchObject({
			cache: { ttl: '5m', promptPrefixChars: HEAD.length - 1 },
		});
		expect(items[0].cachePrefixTokens).toBe(600 + 100 + Math.ceil((HEAD.length - 1) / 4));
		// below the minimum without a long system prompt; Haiku 4.5 needs 4,096
		expect(make('claude-sonnet-4', 'short').marked).toBe(0);
		expect(make('claude-haiku-4-5', long).marked).toBe(0);
		// OpenAI caches a stable prefix on its own: no marker
		const openai = [
			{ request: { model: 'gpt-4o', system: long, prompt: `${HEAD}a`, maxTokens: 1 } },
			{ request: { model: 'gpt-4o', system: long, prompt: `${HEAD}b`, maxTokens: 1 } },
		];
		expect(
			markSharedPromptPrefix(openai, {
				provider: 'openai',
				model: 'gpt-4o',
				ttl: '5m',
				schemaTokens: 0,
			}),
		).toBe(0);
	});
});

describe('sandbox: several breakpoints', () => {
	it('reads the longest cached prefix and writes the rest up to the last breakpoint', () => {
		const cache = new PromptCache();
		const sys = 'y'.repeat(4800); // 1,200 tokens
		const body = (shared: string) => ({
			system: [{ type: 'text', text: sys, cache_control: { type: 'ephemeral' } }],
			messages: [
				{
					role: 'user',
					content: [
						{ type: 'text', text: shared, cache_control: { type: 'ephemeral' } },
						{ type: 'text', text: 'record' },
					],
				},
			],
		});
		const a = anthropicCachePlan(body('z'.repeat(2000)), 'claude-sonnet-4')!;
		expect(a.points.map((p) => p.tokens)).toEqual([1200, 1700]);
		const first = cache.use(a, 0);
		expect(first.use).toEqual({ read: 0, write: 1700, write1h: 0 });
		first.commit(0);
		expect(cache.use(a, 1).use).toEqual({ read: 1700, write: 0, write1h: 0 });
		// other shared lines after the same system prompt: the system part is read
		const b = anthropicCachePlan(body('w'.repeat(2000)), 'claude-sonnet-4')!;
		expect(cache.use(b, 2).use).toEqual({ read: 1200, write: 500, write1h: 0 });
	});
});
