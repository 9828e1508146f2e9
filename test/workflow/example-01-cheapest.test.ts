/**
 * Example 01's cheapest variant by its deadline (Records per Request 10 and prompt caching on
 * the realtime path) in-process against the sandbox: the same answer per ticket as the same
 * workflow naive (one call per ticket, no cache), none misattributed, fewer requests and a
 * lower bill.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { runCheapest, ticketsOf } from '../../bench/cost-levers/example-01-cheapest';
import { startSandbox, type Sandbox } from '../../sandbox/server';

describe('example 01, cheapest by the deadline', () => {
	let sandbox: Sandbox;
	beforeAll(async () => {
		sandbox = await startSandbox({ seed: 1 });
	});
	afterAll(async () => sandbox?.close());

	it('gives every ticket the naive answer for less money', async () => {
		const tickets = ticketsOf(300);
		const naive = await runCheapest(sandbox, tickets, true);
		const cheapest = await runCheapest(sandbox, tickets, false);
		expect(naive.valid.size).toBeGreaterThan(250);
		expect(cheapest.valid).toEqual(naive.valid);
		expect(cheapest.misattributed).toBe(0);
		// The sample gate's 50 tickets and 300 in the full run: one call each naive.
		expect(naive.requests).toBe(350);
		expect(cheapest.requests).toBeLessThan(60);
		expect(cheapest.usd).toBeLessThan(naive.usd * 0.5);
	}, 120_000);
});
