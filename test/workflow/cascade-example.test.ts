/**
 * Example 10, the cheap-first cascade, in-process against the sandbox with a cheap model that
 * is wrong and unsure on 15 % of the tickets: every ticket ends once with the strong-only
 * answer, only the missed ones reach the strong model, and Batch Report's cost table equals
 * what the sandbox billed, per model and in total, to the cent — and its counterfactuals (the
 * strong model alone, naive on the cheap one) what running them billed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
	CHEAP_MODEL,
	STRONG_MODEL,
	cascadeTickets,
	runCascade,
	type CascadeRun,
} from '../../bench/cost-levers/cascade-run';
import type { CostTable } from '../../core/report/cost-table';
import { missesPrompt } from '../../sandbox/model-misses';
import { promptDigest, startSandbox, type Sandbox } from '../../sandbox/server';

const ITEMS = 200;
const SEED = 24;
const MISSES = { [CHEAP_MODEL]: 0.15 };
const cents = (usd: number) => Math.round(usd * 100);

describe('example 10: cheap-first cascade', () => {
	let sandbox: Sandbox;
	let strong: CascadeRun;
	let cascade: CascadeRun;
	let cheapOnly: CascadeRun;
	beforeAll(async () => {
		sandbox = await startSandbox({ seed: SEED, modelMisses: MISSES });
		const tickets = cascadeTickets(ITEMS);
		strong = await runCascade(sandbox, tickets, 'strongOnly');
		cascade = await runCascade(sandbox, tickets);
		cheapOnly = await runCascade(sandbox, tickets, 'cheapOnly');
	}, 120_000);
	afterAll(async () => sandbox?.close());

	it('answers every ticket as the strong model alone does, escalating only the missed ones', () => {
		expect(strong.answers.size).toBe(ITEMS);
		expect(strong.escalated).toBe(0);
		expect(cascade.answers.size).toBe(ITEMS);
		expect([...cascade.answers].filter(([id, a]) => strong.answers.get(id) !== a)).toEqual([]);
		expect(cascade.misattributed).toBe(0);
		// Exactly the tickets the sandbox's cheap model misses (15 % of prompts; 42 of these 200).
		const missed = cascadeTickets(ITEMS).filter(({ json }) =>
			missesPrompt(
				MISSES,
				SEED,
				CHEAP_MODEL,
				promptDigest(`Subject: ${json.subject}\n\n${json.body}`),
			),
		);
		expect(cascade.escalated).toBe(missed.length);
		expect(missed.length).toBeGreaterThan(0);
		expect(cascade.report.outcomes.success).toBe(ITEMS);
		expect(cascade.report.answersByModel).toEqual({
			[CHEAP_MODEL]: ITEMS - cascade.escalated,
			[STRONG_MODEL]: cascade.escalated,
		});
	});

	it("shows cost per model, per correct answer and strong-only equal to the sandbox's bill", () => {
		const t = cascade.report.costTable as CostTable;
		const billed = cascade.billedUsd;
		const billedTotal = billed[CHEAP_MODEL] + billed[STRONG_MODEL];
		expect(t.correct).toBe(ITEMS);
		expect(t.byModel.map((row) => [row.model, row.answers, row.correct])).toEqual([
			[STRONG_MODEL, cascade.escalated, cascade.escalated],
			[CHEAP_MODEL, ITEMS, ITEMS - cascade.escalated],
		]);
		for (const row of t.byModel) {
			expect(cents(row.costUsd), row.model).toBe(cents(billed[row.model]));
			expect(row.costUsd).toBeCloseTo(billed[row.model], 9);
		}
		expect(cents(t.costUsd)).toBe(cents(billedTotal));
		expect(t.costUsd).toBeCloseTo(billedTotal, 9);
		expect(t.costPerCorrectUsd!).toBeCloseTo(billedTotal / ITEMS, 8);
		// Strong alone, estimated from the cascade's own usage, against the strong-only run's bill.
		const strongBill = strong.billedUsd[STRONG_MODEL];
		expect(t.alone!.model).toBe(STRONG_MODEL);
		expect(cents(t.alone!.costUsd)).toBe(cents(strongBill));
		expect(Math.abs(t.alone!.costUsd - strongBill) / strongBill).toBeLessThan(0.01);
		expect(t.alone!.savedPct!).toBeGreaterThan(70);
		// Naive: one realtime call per ticket on the first (cheap) model, against that run's bill.
		const naiveBill = cheapOnly.billedUsd[CHEAP_MODEL];
		expect(cheapOnly.escalated).toBe(0);
		expect(t.naive!.model).toBe(CHEAP_MODEL);
		expect(cents(t.naive!.costUsd)).toBe(cents(naiveBill));
		expect(Math.abs(t.naive!.costUsd - naiveBill) / naiveBill).toBeLessThan(0.01);
		expect(cascade.report.markdown).toContain(`| ${STRONG_MODEL} alone | ${ITEMS} | ${ITEMS} |`);
	});

	it('ends every ticket once with faults on: cheap failures escalate, strong failures are reported', async () => {
		sandbox.configure({
			faults: { status500: 0.03, malformed: 0.02, contentPolicy: 0.02, truncated: 0.01 },
		});
		try {
			const run = await runCascade(sandbox, cascadeTickets(ITEMS));
			const o = run.report.outcomes;
			expect(run.report.items).toBe(ITEMS);
			expect(o.success + o.review + o.invalid + o.failed + o.filtered + o.rejected).toBe(ITEMS);
			expect(o.success).toBe(run.answers.size);
			expect(o.success).toBeGreaterThan(ITEMS * 0.9);
			expect(run.misattributed).toBe(0);
			// What the report counts as paid is what the sandbox billed, to the cent. Not to the
			// last digit: a cheap answer that failed (refused, cut off) and escalated loses its
			// error.costUsd when the strong call answers the item (0.3 % of this bill).
			const t = run.report.costTable as CostTable;
			const billed = Object.values(run.billedUsd).reduce((a, b) => a + b, 0);
			expect(cents(t.costUsd)).toBe(cents(billed));
			expect(t.costUsd).toBeLessThanOrEqual(billed);
			expect(Math.abs(t.costUsd - billed) / billed).toBeLessThan(0.01);
		} finally {
			sandbox.configure({ faults: {} });
		}
	}, 120_000);
});
