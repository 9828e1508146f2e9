import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createProvider } from '../../core/call/providers';
import { LlmBatchError } from '../../core/call/errors';
import { DEFAULT_FLEX, tierLatency } from '../../sandbox/flex';
import type { ParsedCall } from '../../sandbox/protocol';
import { startSandbox, type Sandbox } from '../../sandbox/server';

describe('sandbox flex processing', () => {
	let sb: Sandbox;
	beforeAll(async () => {
		sb = await startSandbox({ seed: 3 });
	});
	afterAll(() => sb.close());

	it('a fifth of flex requests get 429 resource_unavailable, unbilled; the rest echo flex and are billed apart; default requests never', async () => {
		sb.reset();
		const client = new OpenAI({ apiKey: 'k', baseURL: `${sb.url}/v1`, maxRetries: 0 });
		let unavailable = 0;
		const billed = { inputTokens: 0, outputTokens: 0 };
		const tiers = new Set<string>();
		for (let i = 0; i < 200; i++) {
			try {
				const res = await client.chat.completions.create({
					model: 'gpt-4o-mini',
					messages: [{ role: 'user', content: `ticket ${i}` }],
					max_tokens: 50,
					service_tier: 'flex',
				});
				tiers.add(String(res.service_tier));
				billed.inputTokens += res.usage!.prompt_tokens;
				billed.outputTokens += res.usage!.completion_tokens;
			} catch (e) {
				const err = e as InstanceType<typeof OpenAI.APIError>;
				expect([err.status, err.code]).toEqual([429, 'resource_unavailable']);
				unavailable++;
			}
		}
		const plain = await client.chat.completions.create({
			model: 'gpt-4o-mini',
			messages: [{ role: 'user', content: 'a default one' }],
			max_tokens: 50,
		});
		const st = sb.stats();
		expect(unavailable).toBeGreaterThanOrEqual(25);
		expect(unavailable).toBeLessThanOrEqual(55);
		expect(st.flexUnavailable).toBe(unavailable);
		expect([...tiers]).toEqual(['flex']);
		expect(plain.service_tier).toBe('default');
		expect(st.byTier).toEqual({
			flex: { ...billed, cachedInputTokens: 0 },
			default: {
				inputTokens: plain.usage!.prompt_tokens,
				outputTokens: plain.usage!.completion_tokens,
				cachedInputTokens: 0,
			},
		});
		// Unbilled: the account's usage is the billed answers' only.
		expect(st.inputTokens).toBe(billed.inputTokens + plain.usage!.prompt_tokens);
	});

	it('flex is three times slower than the same request at default', () => {
		const call = { serviceTier: 'flex' } as ParsedCall;
		expect(tierLatency(DEFAULT_FLEX, call, 120)).toBe(360);
		expect(tierLatency(DEFAULT_FLEX, { ...call, serviceTier: undefined }, 120)).toBe(120);
	});

	it("through the engine's provider: the tier is sent, the answer's tier marks its usage, and no capacity is resource_unavailable", async () => {
		sb.configure({ flex: { unavailable: 0 } });
		const provider = createProvider('openai', { apiKey: 'k', baseUrl: `${sb.url}/v1` });
		const req = { model: 'gpt-5-mini', prompt: 'hello', maxTokens: 20 };
		const opts = { timeoutMs: 5000 };
		const flex = await provider.complete({ ...req, serviceTier: 'flex' }, opts);
		expect([flex.serviceTier, flex.usage.serviceTier]).toEqual(['flex', 'flex']);
		const auto = await provider.complete({ ...req, serviceTier: 'auto' }, opts);
		expect([auto.serviceTier, auto.usage.serviceTier]).toEqual(['default', undefined]);
		sb.configure({ flex: { unavailable: 1 } });
		const err = await provider.complete({ ...req, serviceTier: 'flex' }, opts).catch((e) => e);
		expect(err).toBeInstanceOf(LlmBatchError);
		expect([err.code, err.status, err.retryable]).toEqual(['resource_unavailable', 429, true]);
		sb.configure({ flex: { unavailable: DEFAULT_FLEX.unavailable } });
	});
});
