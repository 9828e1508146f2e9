/** Sums a run's entries into the counters the report is built from. */
import type { ReportEntry } from './entry';
import { OUTCOMES, type ReportOutcome } from './outcome';

export interface Totals {
	outcomes: Record<ReportOutcome, number>;
	byErrorCode: Record<string, number>;
	/** Ascending. */
	latencies: number[];
	retryItems: number;
	trips: number;
	extra: number;
	input: number;
	output: number;
	cost: number;
	costUnknown: number;
	batchItems: number;
	batchCost: number;
	batchRealtime: number;
	cacheRead: number;
	cacheWrite: number;
	cacheSaved: number;
	reusedItems: number;
	reusedSaved: number;
	answersByModel: Record<string, number>;
	notSampled: number;
	/** What each model was paid and for how many answers (the cost table's rows). */
	paidByModel: Record<string, { usd: number; answers: number }>;
	/** Items per primary model (the first call's model when no fallback answered). */
	primaryModels: Record<string, number>;
	/** The correct answers' tokens as lone realtime calls (the naive counterfactual). */
	soloInput: number;
	soloOutput: number;
	/** Failures' paid answers (`error.costUsd`): items and USD. */
	failedPaid: { usd: number; items: number };
	firstStart?: number;
	lastDone?: number;
}

function emptyTotals(): Totals {
	return {
		outcomes: Object.fromEntries(OUTCOMES.map((o) => [o, 0])) as Record<ReportOutcome, number>,
		byErrorCode: {},
		latencies: [],
		retryItems: 0,
		trips: 0,
		extra: 0,
		input: 0,
		output: 0,
		cost: 0,
		costUnknown: 0,
		batchItems: 0,
		batchCost: 0,
		batchRealtime: 0,
		cacheRead: 0,
		cacheWrite: 0,
		cacheSaved: 0,
		reusedItems: 0,
		reusedSaved: 0,
		answersByModel: {},
		notSampled: 0,
		paidByModel: {},
		primaryModels: {},
		soloInput: 0,
		soloOutput: 0,
		failedPaid: { usd: 0, items: 0 },
	};
}

function addCosts(t: Totals, e: ReportEntry): void {
	if (e.costUsd !== undefined) t.cost += e.costUsd;
	else if (e.inputTokens + e.outputTokens > 0) t.costUnknown++;
	if (e.realtimeCostUsd !== undefined) {
		t.batchItems++;
		t.batchCost += e.costUsd ?? 0;
		t.batchRealtime += e.realtimeCostUsd;
	}
	t.cacheRead += e.cachedInputTokens ?? 0;
	t.cacheWrite += e.cacheWriteTokens ?? 0;
	t.cacheSaved += e.cacheSavedUsd ?? 0;
	if (e.responseCacheSavedUsd !== undefined) {
		t.reusedItems++;
		t.reusedSaved += e.responseCacheSavedUsd;
	}
}

function addCostTable(t: Totals, e: ReportEntry): void {
	for (const [model, p] of Object.entries(e.paid ?? {})) {
		const row = (t.paidByModel[model] ??= { usd: 0, answers: 0 });
		row.usd += p.usd;
		row.answers += p.answers;
	}
	if (e.primaryModel !== undefined)
		t.primaryModels[e.primaryModel] = (t.primaryModels[e.primaryModel] ?? 0) + 1;
	if (e.failedPaidUsd !== undefined) {
		t.failedPaid.usd += e.failedPaidUsd;
		t.failedPaid.items++;
	}
	if (e.outcome === 'success' && e.solo) {
		t.soloInput += e.solo.inputTokens;
		t.soloOutput += e.solo.outputTokens;
	}
}

function addTimes(t: Totals, e: ReportEntry): void {
	if (e.latencyMs !== undefined) t.latencies.push(e.latencyMs);
	if (e.completedAt !== undefined) {
		const start = e.completedAt - (e.latencyMs ?? 0);
		t.firstStart = t.firstStart === undefined ? start : Math.min(t.firstStart, start);
		t.lastDone = t.lastDone === undefined ? e.completedAt : Math.max(t.lastDone, e.completedAt);
	}
}

export function tally(entries: readonly ReportEntry[]): Totals {
	const t = emptyTotals();
	for (const e of entries) {
		t.outcomes[e.outcome]++;
		if (e.errorCode !== undefined)
			t.byErrorCode[e.errorCode] = (t.byErrorCode[e.errorCode] ?? 0) + 1;
		if (e.retries > 0) t.retryItems++;
		t.trips += e.retries;
		t.extra += e.extraCallAttempts;
		t.input += e.inputTokens;
		t.output += e.outputTokens;
		if (e.notSampled) t.notSampled++;
		if (e.model !== undefined) t.answersByModel[e.model] = (t.answersByModel[e.model] ?? 0) + 1;
		addCosts(t, e);
		addCostTable(t, e);
		addTimes(t, e);
	}
	t.latencies.sort((a, b) => a - b);
	return t;
}
