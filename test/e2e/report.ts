/**
 * The report a poll execution of a batch example must give: exactly one Batch Report item
 * whose numbers are the counts seen in the final outputs, however many branches and retry
 * rounds fed it, and Alert carrying that same item exactly when a threshold is crossed.
 */
import { expect } from 'vitest';

import { outputs, type Item, type Run } from './harness';

export interface FinalOutputs {
	valid: Item[];
	invalid: Item[];
	review: Item[];
	dead: Item[];
	filtered: Item[];
}

interface ReportJson {
	items: number;
	outcomes: Record<string, number>;
	successRate: number | null;
	byErrorCode: Record<string, number>;
	costUsd: number;
	retries: { items: number; trips: number };
	alerts: Array<{ rule: string; errorCode?: string }>;
}

const codeOf = (item: Item) => (item.json.error as { code?: string } | undefined)?.code;
const costOf = (item: Item) => (item.json.llm as { costUsd?: number } | undefined)?.costUsd ?? 0;
const tripsOf = (item: Item) =>
	(item.json.retry as { attempts?: number } | undefined)?.attempts ?? 0;

/** Asserts the one report of `run` against its final outputs and returns it with its alerts. */
export function expectOneReport(
	run: Run,
	final: FinalOutputs,
): { report: ReportJson; alerts: string[] } {
	const nodeRuns = run.data.resultData.runData['Batch Report']?.length ?? 0;
	const [reports = [], alertItems = []] = outputs(run, 'Batch Report');
	expect(
		reports.map((r) => (r.json as unknown as ReportJson).items),
		`Batch Report ran ${nodeRuns} times; the items of each report it emitted`,
	).toHaveLength(1);
	const report = reports[0].json as unknown as ReportJson;
	const all = Object.values(final).flat();
	expect(report.items).toBe(all.length);
	expect(report.outcomes).toEqual({
		success: final.valid.length,
		review: final.review.length,
		invalid: final.invalid.length,
		failed: final.dead.length,
		filtered: final.filtered.length,
		rejected: 0,
	});
	const codes: Record<string, number> = {};
	for (const item of [...final.invalid, ...final.dead, ...final.filtered]) {
		const code = codeOf(item);
		if (code) codes[code] = (codes[code] ?? 0) + 1;
	}
	expect(report.byErrorCode).toEqual(codes);
	expect(report.costUsd).toBeCloseTo(
		all.reduce((s, item) => s + costOf(item), 0),
		8,
	);
	expect(report.retries.trips).toBe(all.reduce((s, item) => s + tripsOf(item), 0));
	expect(alertItems.map((a) => a.json)).toEqual(report.alerts.length > 0 ? [report] : []);
	const alerts = report.alerts.map((a) => (a.errorCode ? `${a.rule}:${a.errorCode}` : a.rule));
	return { report, alerts: alerts.sort() };
}
