import { describe, expect, it } from 'vitest';

import { CostMeter, type Ticket } from '../../../core/call/budget';
import { functionPricing, modelPricing, unpricedModels } from '../../../core/call/pricing';
import { costUsd } from '../../../core/cost';

const never = new AbortController().signal;
const ticketOf = (r: unknown) => (r as { ticket: Ticket }).ticket;

describe('pricing: each model by its own price', () => {
	it('an override prices the model it names, never another model of the chain', () => {
		const p = modelPricing({ 'llama3.1-local': { inputPer1M: 0, outputPer1M: 0 } });
		const usage = { inputTokens: 1000, outputTokens: 1000 };
		expect(p.costOf('llama3.1-local', usage)).toBe(0);
		expect(p.costOf('gpt-4o', usage)).toBe(costUsd('gpt-4o', usage));
		// Not by prefix either: an unknown model stays unknown.
		expect(p.costOf('llama3.1-local-70b', usage)).toBeUndefined();
		expect(unpricedModels(p, ['llama3.1-local', 'gpt-4o', 'mystery-model'])).toEqual([
			'mystery-model',
		]);
	});

	it("a request's most: its prompt at the dearest rate it may be billed at, plus its output", () => {
		const p = modelPricing();
		// claude-sonnet-4-5: $3 input, $15 output; cache writes 1.25× (5 min) and 2× (1 h).
		const t = { inputTokens: 1_000_000, outputTokens: 100_000 };
		expect(p.maxCostOf('claude-sonnet-4-5', t)).toBeCloseTo(3 + 1.5, 10);
		expect(p.maxCostOf('claude-sonnet-4-5', { ...t, cacheWrite: '5m' })).toBeCloseTo(
			3.75 + 1.5,
			10,
		);
		expect(p.maxCostOf('claude-sonnet-4-5', { ...t, cacheWrite: '1h' })).toBeCloseTo(6 + 1.5, 10);
		// OpenAI has no write premium.
		expect(p.maxCostOf('gpt-4o', { ...t, cacheWrite: '5m' })).toBeCloseTo(2.5 + 1, 10);
		// The batch rate: the model's price × its batch discount.
		expect(modelPricing({}, { batch: true }).costOf('gpt-4o', t)).toBeCloseTo((2.5 + 1) / 2, 10);
	});
});

describe('the cost meter (a cap per run)', () => {
	// $0.001 per 1k tokens: a request of 100 + 900 tokens may cost $0.001.
	const pricing = functionPricing((_m, u) => (u.inputTokens + u.outputTokens) / 1e6);
	const most = { inputTokens: 100, outputTokens: 900 };

	it('without a cap: nothing reserved, answers priced', async () => {
		const m = new CostMeter({ pricing });
		const r = await m.reserve('m', most, never);
		expect(ticketOf(r)).toEqual({ id: '', model: 'm', maxUsd: 0, paidUsd: 0 });
		expect(await m.settle(ticketOf(r), { inputTokens: 10, outputTokens: 5 })).toBeCloseTo(
			15e-6,
			12,
		);
	});

	it('requests in flight hold the rest of the cap: the next waits for an answer, then goes', async () => {
		const m = new CostMeter({ pricing, capUsd: 0.0025 });
		const a = ticketOf(await m.reserve('m', most, never));
		const b = ticketOf(await m.reserve('m', most, never));
		let third: unknown;
		const waiting = m.reserve('m', most, never).then((r) => (third = r));
		await new Promise((r) => setImmediate(r));
		expect(third).toBeUndefined();
		// a cost $0.0002: $0.0002 paid + $0.001 held + $0.001 asked fits under $0.0025.
		await m.settle(a, { inputTokens: 100, outputTokens: 100 });
		await waiting;
		expect(ticketOf(third).maxUsd).toBeCloseTo(0.001, 12);
		// b got no answer: its reservation ends, nothing paid.
		await m.release(b);
		expect(b.paidUsd).toBe(0);
	});

	it('refused when what was paid leaves no room for the request, with the figures', async () => {
		const m = new CostMeter({ pricing, capUsd: 0.0015 });
		const a = ticketOf(await m.reserve('m', most, never));
		await m.settle(a, { inputTokens: 600, outputTokens: 0 });
		expect(await m.reserve('m', most, never)).toEqual({
			refused:
				'the cost cap of $0.001500 was reached ($0.000600 spent; the next request to m may cost up to $0.001000: about 100 prompt tokens and 900 output tokens)',
		});
		// A request larger than the whole cap is refused before anything is spent.
		expect(
			await new CostMeter({ pricing, capUsd: 0.0005 }).reserve('m', most, never),
		).toMatchObject({ refused: expect.stringContaining('($0.000000 spent;') });
	});

	it('a stop ends the wait', async () => {
		const m = new CostMeter({ pricing, capUsd: 0.001 });
		await m.reserve('m', most, never);
		const stop = new AbortController();
		const waiting = m.reserve('m', most, stop.signal);
		stop.abort();
		expect(await waiting).toBeUndefined();
	});
});
