/**
 * What the report keeps of one item (`ReportEntry`), read from the item contract: small, so
 * a run of 100k items fits in execution state.
 */
import { cacheSavingsUsd, costUsd } from '../cost';
import { getPath, type Json } from '../paths';
import {
	classify,
	REPORT_FIELD_DEFAULTS,
	resultFieldsOf,
	type ReportFields,
	type ReportOutcome,
} from './outcome';

export interface ReportEntry {
	outcome: ReportOutcome;
	errorCode?: string;
	/** Trips through Route Failures' Retry output. */
	retries: number;
	/** Attempts inside the call node beyond the first. */
	extraCallAttempts: number;
	inputTokens: number;
	outputTokens: number;
	costUsd?: number;
	latencyMs?: number;
	completedAt?: number;
	/** Answered through a provider batch API (LLM Batch Job): what the same tokens cost in realtime. */
	realtimeCostUsd?: number;
	/** Prompt cache: input tokens read from / written to it, and what the reads saved. */
	cachedInputTokens?: number;
	cacheWriteTokens?: number;
	cacheSavedUsd?: number;
	/**
	 * A response-cache hit (`cached`): what its answer cost when another call paid for it.
	 * The run paid nothing, so its tokens and cost count 0 (as in the ledger's job totals).
	 */
	responseCacheSavedUsd?: number;
	/** The model that answered (a fallback model when the primary did not). */
	model?: string;
	/** Left out by Batch Prepare's sample (a rejection that is not a problem of the record). */
	notSampled?: true;
	/**
	 * USD each model was paid for this item and how many of its answers were paid, over every
	 * result field (a cascade's cheap and strong calls). Absent when nothing priced was paid.
	 */
	paid?: Record<string, { usd: number; answers: number }>;
	/**
	 * A correct answer's tokens as one realtime call for this record alone would carry them:
	 * every input token at the plain input price (no cache), a grouped record's own request and
	 * answer (its `soloUsage`), else the answer's usage. The naive counterfactual's usage.
	 */
	solo?: { inputTokens: number; outputTokens: number };
	/** The model the first call meant to answer with: its model when no fallback answered. */
	primaryModel?: string;
	/** A failure's answers that were paid but could not be used (`error.costUsd`; no model). */
	failedPaidUsd?: number;
}

export function num(v: unknown): number | undefined {
	return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

type Usage = Parameters<typeof costUsd>[1];

/** The usage the item reports, as the cost meter reads it. */
function usageOf(usage: Json | undefined): Usage {
	return {
		inputTokens: num(usage?.inputTokens) ?? 0,
		outputTokens: num(usage?.outputTokens) ?? 0,
		cachedInputTokens: num(usage?.cachedInputTokens) ?? 0,
		cacheWriteTokens: num(usage?.cacheWriteTokens) ?? 0,
		cacheWrite1hTokens: num(usage?.cacheWrite1hTokens) ?? 0,
	};
}

function addCache(entry: ReportEntry, usage: Usage, model: unknown): void {
	const cachedIn = usage.cachedInputTokens ?? 0;
	const written = usage.cacheWriteTokens ?? 0;
	if (cachedIn > 0) entry.cachedInputTokens = cachedIn;
	if (written > 0) entry.cacheWriteTokens = written;
	if ((cachedIn > 0 || written > 0) && typeof model === 'string') {
		const saved = cacheSavingsUsd(model, usage);
		if (saved !== undefined) entry.cacheSavedUsd = saved;
	}
}

function addNotSampled(entry: ReportEntry, json: Json, fields: ReportFields): void {
	const issues = getPath(json, `${fields.errorField}.issues`);
	if (
		Array.isArray(issues) &&
		issues.some((i) => (i as { code?: unknown })?.code === 'not_sampled')
	)
		entry.notSampled = true;
}

function isResult(v: unknown): v is Json {
	return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** What each result field's answer was paid, by the model that gave it. */
function addPaid(entry: ReportEntry, results: readonly Json[]): void {
	for (const r of results) {
		const cost = num(r.costUsd);
		if (r.cached === true || cost === undefined || typeof r.model !== 'string') continue;
		entry.paid ??= {};
		const row = (entry.paid[r.model] ??= { usd: 0, answers: 0 });
		row.usd += cost;
		row.answers++;
	}
}

/** The answer's tokens as one realtime call alone (see `ReportEntry.solo`). */
function soloOf(result: Json): ReportEntry['solo'] {
	const solo = result.soloUsage as Json | undefined;
	const usage = result.usage as Json | undefined;
	const input = num(solo?.inputTokens) ?? num(usage?.inputTokens);
	const output = num(solo?.outputTokens) ?? num(usage?.outputTokens);
	if (input === undefined || output === undefined) return undefined;
	return { inputTokens: input, outputTokens: output };
}

/** Adds the earlier calls' tokens and cost (a cascade's first model) to the answer's entry. */
function addEarlier(entry: ReportEntry, earlier: readonly Json[]): void {
	for (const r of earlier) {
		if (r.cached === true) continue;
		const usage = usageOf(r.usage as Json | undefined);
		entry.inputTokens += usage.inputTokens;
		entry.outputTokens += usage.outputTokens;
		const cost = num(r.costUsd);
		if (cost !== undefined) entry.costUsd = (entry.costUsd ?? 0) + cost;
	}
}

function addCostTableParts(
	entry: ReportEntry,
	results: readonly Json[],
	outcome: ReportOutcome,
): void {
	addPaid(entry, results);
	const first = results[0];
	if (first && typeof first.model === 'string' && first.fallback === undefined)
		entry.primaryModel = first.model;
	const answer = results[results.length - 1];
	if (outcome === 'success' && answer) {
		const solo = soloOf(answer);
		if (solo) entry.solo = solo;
	}
}

export function toEntry(json: Json, fields: ReportFields = REPORT_FIELD_DEFAULTS): ReportEntry {
	const { outcome, errorCode } = classify(json, fields);
	const results = resultFieldsOf(fields)
		.map((f) => getPath(json, f))
		.filter(isResult);
	// The last call that answered gave the item's answer; the earlier ones were paid too.
	const result = results[results.length - 1] as Json | undefined;
	// A response-cache hit was paid by the call that stored it: the run spent nothing on it.
	const reused = result?.cached === true;
	const usage = usageOf(
		result && typeof result === 'object' && !reused
			? (result.usage as Json | undefined)
			: undefined,
	);
	const completed =
		typeof result?.completedAt === 'string' ? Date.parse(result.completedAt) : Number.NaN;
	const callAttempts =
		num(result?.attempts) ?? num(getPath(json, `${fields.errorField}.attempts`)) ?? 0;
	const entry: ReportEntry = {
		outcome,
		retries: num(getPath(json, `${fields.retryField}.attempts`)) ?? 0,
		extraCallAttempts: Math.max(0, callAttempts - 1),
		inputTokens: usage.inputTokens,
		outputTokens: usage.outputTokens,
	};
	if (errorCode !== undefined) entry.errorCode = errorCode;
	addNotSampled(entry, json, fields);
	addCache(entry, usage, result?.model);
	if (typeof result?.model === 'string' && outcome === 'success') entry.model = result.model;
	const cost = reused ? undefined : num(result?.costUsd);
	if (cost !== undefined) entry.costUsd = cost;
	if (reused) {
		entry.costUsd = 0;
		entry.responseCacheSavedUsd = num(result?.costUsd) ?? 0;
	}
	const batched = typeof result?.batchId === 'string' && cost !== undefined;
	if (batched && typeof result?.model === 'string') {
		const realtime = costUsd(result.model, usage);
		if (realtime !== undefined) entry.realtimeCostUsd = realtime;
	}
	// A cached answer cost no call; its latency would flatter the percentiles. A batch answer's
	// "latency" is its wait in the provider's queue (hours), not a call's latency.
	const latency = num(result?.latencyMs);
	if (latency !== undefined && !reused && !batched) entry.latencyMs = latency;
	if (Number.isFinite(completed)) entry.completedAt = completed;
	addEarlier(entry, results.slice(0, -1));
	addCostTableParts(entry, results, outcome);
	const failedPaid = num(getPath(json, `${fields.errorField}.costUsd`));
	if (failedPaid !== undefined && failedPaid > 0) entry.failedPaidUsd = failedPaid;
	return entry;
}
