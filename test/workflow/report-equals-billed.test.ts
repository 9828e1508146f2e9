/**
 * Batch Report's cost table against the sandbox's bill, every row: the cascade (per model,
 * total, per correct answer) and a grouped, prompt-cached Anthropic run equal to the cent; the
 * counterfactuals (strong alone, naive, naive of grouped and cached records) within 1 % of the
 * bill of running them. The bench (`npm run bench:cost-levers`) runs the same at 2,000 records.
 */
import { describe, expect, it } from 'vitest';

import { run } from '../../bench/cost-levers/report-equals-billed';

describe('Batch Report cost table = what the sandbox billed', () => {
	it('matches on every row', async () => {
		const rows = await run(100);
		expect(rows.map((r) => r.scenario)).toEqual([
			'report = billed: cascade, gpt-4o',
			'report = billed: cascade, gpt-4o-mini',
			'report = billed: cascade, total',
			'report = billed: cascade, per correct answer',
			'report = billed: cascade, gpt-4o alone (estimate vs its run)',
			'report = billed: cascade, naive gpt-4o-mini (estimate vs its run)',
			'report = billed: grouped 10 + cached, total',
			'report = billed: grouped 10 + cached, per correct answer',
			'report = billed: grouped 10 + cached, naive (estimate vs its run)',
		]);
		expect(rows.filter((r) => !r.met)).toEqual([]);
		for (const r of rows) {
			expect(r.costUsd, r.scenario).toBeGreaterThan(0);
			expect(r.correct, r.scenario).toBeGreaterThan(0);
		}
	}, 120_000);
});
