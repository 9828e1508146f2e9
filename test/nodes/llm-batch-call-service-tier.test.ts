import { NodeOperationError } from 'n8n-workflow';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import { modelPricing } from '../../core/call/pricing';
import { resetSharedFlow } from '../../core/call/limiter/in-process';
import { FLEX_TIMEOUT_MS } from '../../core/call/service-tier';
import { executeLlmBatchCall } from '../../nodes/LlmBatchCall/execute';
import { flexTimeoutOption } from '../../nodes/LlmBatchCall/serviceTier';
import { priceOverridesOf, readConfig } from '../../nodes/LlmBatchCall/params';
import type { Clock } from '../../core/types';
import { startSandbox, type Sandbox } from '../../sandbox/server';
import { mockExecute, type MockOptions } from '../helpers/mock-execute';

function params(extra: Record<string, unknown> = {}): MockOptions['parameters'] {
	return {
		provider: 'openai',
		model: 'gpt-5-mini',
		prompt: (_i: number, item: { json: Record<string, unknown> }) => item.json.text,
		recordId: (_i: number, item: { json: Record<string, unknown> }) => item.json.id,
		outputFormat: 'text',
		concurrency: 4,
		requestsPerMinute: 60_000,
		tokensPerMinute: 10_000_000,
		resultField: 'llm',
		ledgerStore: 'none',
		...extra,
		options: { progressIntervalSeconds: 0, ...(extra.options as object) },
	};
}

/** Backoff waits pass at once (the sandbox answers in real time; nothing here is timed). */
const skipWaits: Clock = {
	now: () => Date.now(),
	sleep: (_ms, signal) =>
		new Promise((resolve, reject) => {
			if (signal?.aborted) reject(signal.reason);
			else setImmediate(resolve);
		}),
	random: () => 0.5,
};

const items = Array.from({ length: 40 }, (_, i) => ({ id: `r${i}`, text: `ticket ${i}` }));
const creds = (sb: Sandbox) => ({ llmBatchOpenAiApi: { apiKey: 'k', baseUrl: `${sb.url}/v1` } });

function configError(extra: Record<string, unknown>): string {
	const m = mockExecute({ items, parameters: params(extra) });
	try {
		readConfig(m.fns);
	} catch (e) {
		expect(e).toBeInstanceOf(NodeOperationError);
		return `${(e as Error).message} | ${(e as NodeOperationError).description}`;
	}
	return 'no error';
}

describe('LLM Batch Call Service Tier: configuration', () => {
	it("Flex Request Timeout's default is the engine's flex timeout (15 minutes, OpenAI's advice)", () => {
		expect(flexTimeoutOption.default).toBe(FLEX_TIMEOUT_MS / 1000);
	});

	it('refuses before any call what cannot work: a tier without an OpenAI model, a deadline without flex, a cap without a flex price, a tier price without a standard one', () => {
		expect(
			configError({
				provider: 'anthropic',
				model: 'claude-haiku-4-5',
				options: { serviceTier: 'flex' },
			}),
		).toMatch(/^Service Tier flex is set, but no model of the run is on OpenAI/);
		expect(configError({ options: { flexDeadlineMinutes: 30 } })).toMatch(
			/^Flex Deadline is set, but Service Tier is not Flex/,
		);
		expect(
			configError({ model: 'gpt-4o-mini', options: { serviceTier: 'flex', maxCostUsd: 5 } }),
		).toMatch(
			/^Max Cost per Run is set, but the flex price of gpt-4o-mini is unknown \| Add a Model Prices entry for it with Service Tier Flex/,
		);
		expect(
			configError({
				model: 'my-model',
				options: {
					modelPrices: {
						price: [
							{ model: 'my-model', inputPricePer1M: 1, outputPricePer1M: 2, serviceTier: 'flex' },
						],
					},
				},
			}),
		).toMatch(/^Model Prices has a flex price for my-model but no Default price/);
		expect(
			configError({ options: { serviceTier: 'flex', maxCostUsd: 5, flexDeadlineMinutes: 30 } }),
		).toBe('no error');
	});

	it("a Model Prices entry with Service Tier Flex prices that model's flex answers; its other tiers keep their own price", () => {
		const m = mockExecute({
			items,
			parameters: params({
				model: 'gpt-4o-mini',
				options: {
					serviceTier: 'flex',
					maxCostUsd: 5,
					modelPrices: {
						price: [
							{
								model: 'gpt-4o-mini',
								inputPricePer1M: 0.075,
								outputPricePer1M: 0.3,
								serviceTier: 'flex',
							},
						],
					},
				},
			}),
		});
		const pricing = modelPricing(priceOverridesOf(readConfig(m.fns)));
		const usage = { inputTokens: 1_000_000, outputTokens: 1_000_000 };
		expect([
			pricing.costOf('gpt-4o-mini', usage),
			pricing.costOf('gpt-4o-mini', { ...usage, serviceTier: 'flex' }),
			pricing.costOf('gpt-4o-mini', { ...usage, serviceTier: 'priority' }),
		]).toEqual([0.75, 0.375, 1.25]);
	});
});

describe('LLM Batch Call Service Tier Flex against the sandbox', () => {
	let sb: Sandbox;
	beforeAll(async () => {
		// Harsher than the breaker's default threshold (50 % of 20): counted, it would open it.
		sb = await startSandbox({ seed: 5, flex: { unavailable: 0.6 } });
	});
	afterAll(() => sb.close());
	beforeEach(() => resetSharedFlow());

	it('every item answers at flex, priced at half; no unbilled 429 is a failure, a retry or a breaker opening', async () => {
		sb.reset();
		const m = mockExecute({
			items,
			parameters: params({ options: { serviceTier: 'flex' } }),
			credentials: creds(sb),
		});
		const [success, failed] = await executeLlmBatchCall(m.fns, { clock: skipWaits });
		const st = sb.stats();
		expect(failed).toEqual([]);
		expect(success.map((s) => s.pairedItem)).toEqual(items.map((_, i) => ({ item: i })));
		const llm = success.map(
			(s) =>
				s.json.llm as {
					serviceTier: string;
					attempts: number;
					costUsd: number;
					usage: { inputTokens: number; outputTokens: number };
				},
		);
		expect(new Set(llm.map((l) => l.serviceTier))).toEqual(new Set(['flex']));
		expect(llm.every((l) => l.attempts === 1)).toBe(true);
		// gpt-5-mini at flex: $0.125 / $1.00 per 1M, from the tokens the sandbox billed at flex.
		const billed = st.byTier.flex;
		const cost = llm.reduce((a, l) => a + l.costUsd, 0);
		expect(cost).toBeCloseTo((billed.inputTokens * 0.125 + billed.outputTokens * 1) / 1e6, 10);
		expect(st.flexUnavailable).toBeGreaterThan(items.length / 2);
		const hint = m.hints.map((h) => h.message).join('\n');
		expect(hint).toMatch(/answers by tier: flex 40/);
		expect(hint).toMatch(
			new RegExp(
				`${st.flexUnavailable} flex capacity waits \\(429 resource_unavailable, not billed\\)`,
			),
		);
		expect(hint).toMatch(/^40 of 40 items succeeded, 0 failed · 0 retries, 0 rate-limit waits/);
		expect(hint).not.toMatch(/circuit/);
	});
});
