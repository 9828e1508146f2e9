/**
 * Batch Report's logic: classify the items of a run by outcome, total them, render a
 * Markdown table and check alert thresholds.
 *
 * Outcome of one item (first rule that matches):
 *   error.code invalid_input / duplicate     -> rejected  (Batch Prepare)
 *   error.code in filteredCodes              -> filtered  (content policy)
 *   error + validation.status 'invalid'      -> invalid   (Validate Output)
 *   any other error                          -> failed    (Dead Letter / Failed)
 *   validation.status 'review'               -> review    (Validate Output)
 *   the result field (llm) present           -> success
 *   anything else                            -> failed, code 'unknown'
 *
 * One report per run across the retry loop: n8n runs a node once per incoming batch of
 * items, and a loop delivers a run's items in several batches. `collect` keeps a compact
 * entry per item (keyed by the `batchRun` stamp Batch Prepare puts on every item) in state
 * the node keeps for the execution, and reports a run once all `batchRun.total` items of it
 * have arrived.
 */
import { cacheSavingsUsd, costUsd } from '../cost';
import {
	DEFAULT_ERROR_FIELD,
	DEFAULT_RESULT_FIELD,
	DEFAULT_RETRY_FIELD,
	DEFAULT_RUN_FIELD,
	DEFAULT_VALIDATION_FIELD,
} from '../defaults';
import { getPath, type Json } from '../paths';
import type { ErrorCode } from '../types';

export const OUTCOMES = ['success', 'review', 'invalid', 'failed', 'filtered', 'rejected'] as const;
export type ReportOutcome = (typeof OUTCOMES)[number];

const REJECTED_CODES: ReadonlySet<string> = new Set<ErrorCode>(['invalid_input', 'duplicate']);

export interface ReportFields {
	/** @default 'llm' */
	readonly resultField: string;
	/** @default 'error' */
	readonly errorField: string;
	/** @default 'validation' */
	readonly validationField: string;
	/** @default 'retry' */
	readonly retryField: string;
	/** @default 'batchRun' */
	readonly runField: string;
	/** @default ['content_filter'] */
	readonly filteredCodes: ReadonlySet<string>;
}

export const REPORT_FIELD_DEFAULTS: ReportFields = {
	resultField: DEFAULT_RESULT_FIELD,
	errorField: DEFAULT_ERROR_FIELD,
	validationField: DEFAULT_VALIDATION_FIELD,
	retryField: DEFAULT_RETRY_FIELD,
	runField: DEFAULT_RUN_FIELD,
	filteredCodes: new Set(['content_filter']),
};

/** What the report keeps of one item: small, so a run of 100k items fits in execution state. */
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
}

function num(v: unknown): number | undefined {
	return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

export function classify(
	json: Json,
	fields: ReportFields = REPORT_FIELD_DEFAULTS,
): { outcome: ReportOutcome; errorCode?: string } {
	const error = getPath(json, fields.errorField);
	const status = getPath(json, `${fields.validationField}.status`);
	if (error !== undefined && error !== null) {
		const code =
			typeof error === 'object' && typeof (error as { code?: unknown }).code === 'string'
				? (error as { code: string }).code
				: 'unknown';
		if (REJECTED_CODES.has(code)) return { outcome: 'rejected', errorCode: code };
		if (fields.filteredCodes.has(code)) return { outcome: 'filtered', errorCode: code };
		if (status === 'invalid') return { outcome: 'invalid', errorCode: code };
		return { outcome: 'failed', errorCode: code };
	}
	if (status === 'review') return { outcome: 'review' };
	const result = getPath(json, fields.resultField);
	if (result !== undefined && result !== null) return { outcome: 'success' };
	return { outcome: 'failed', errorCode: 'unknown' };
}

export function toEntry(json: Json, fields: ReportFields = REPORT_FIELD_DEFAULTS): ReportEntry {
	const { outcome, errorCode } = classify(json, fields);
	const result = getPath(json, fields.resultField) as Json | undefined;
	// A response-cache hit was paid by the call that stored it: the run spent nothing on it.
	const reused = result?.cached === true;
	const usage =
		result && typeof result === 'object' && !reused
			? (result.usage as Json | undefined)
			: undefined;
	const completed =
		typeof result?.completedAt === 'string' ? Date.parse(result.completedAt) : Number.NaN;
	const callAttempts =
		num(result?.attempts) ?? num(getPath(json, `${fields.errorField}.attempts`)) ?? 0;
	const entry: ReportEntry = {
		outcome,
		retries: num(getPath(json, `${fields.retryField}.attempts`)) ?? 0,
		extraCallAttempts: Math.max(0, callAttempts - 1),
		inputTokens: num(usage?.inputTokens) ?? 0,
		outputTokens: num(usage?.outputTokens) ?? 0,
	};
	if (errorCode !== undefined) entry.errorCode = errorCode;
	const issues = getPath(json, `${fields.errorField}.issues`);
	if (
		Array.isArray(issues) &&
		issues.some((i) => (i as { code?: unknown })?.code === 'not_sampled')
	)
		entry.notSampled = true;
	const cachedIn = num(usage?.cachedInputTokens) ?? 0;
	const written = num(usage?.cacheWriteTokens) ?? 0;
	if (cachedIn > 0) entry.cachedInputTokens = cachedIn;
	if (written > 0) entry.cacheWriteTokens = written;
	if (typeof result?.model === 'string' && outcome === 'success') entry.model = result.model;
	if ((cachedIn > 0 || written > 0) && typeof result?.model === 'string') {
		const saved = cacheSavingsUsd(result.model, {
			inputTokens: entry.inputTokens,
			outputTokens: entry.outputTokens,
			cachedInputTokens: cachedIn,
			cacheWriteTokens: written,
			cacheWrite1hTokens: num(usage?.cacheWrite1hTokens) ?? 0,
		});
		if (saved !== undefined) entry.cacheSavedUsd = saved;
	}
	const cost = reused ? undefined : num(result?.costUsd);
	if (cost !== undefined) entry.costUsd = cost;
	if (reused) {
		entry.costUsd = 0;
		entry.responseCacheSavedUsd = num(result?.costUsd) ?? 0;
	}
	const batched = typeof result?.batchId === 'string' && cost !== undefined;
	if (batched && typeof result?.model === 'string') {
		const realtime = costUsd(result.model, {
			inputTokens: entry.inputTokens,
			outputTokens: entry.outputTokens,
			cachedInputTokens: cachedIn,
			cacheWriteTokens: written,
			cacheWrite1hTokens: num(usage?.cacheWrite1hTokens) ?? 0,
		});
		if (realtime !== undefined) entry.realtimeCostUsd = realtime;
	}
	// A cached answer cost no call; its latency would flatter the percentiles. A batch answer's
	// "latency" is its wait in the provider's queue (hours), not a call's latency.
	const latency = num(result?.latencyMs);
	if (latency !== undefined && !reused && !batched) entry.latencyMs = latency;
	if (Number.isFinite(completed)) entry.completedAt = completed;
	return entry;
}

// ---------------------------------------------------------------------------------------
// Collecting a run across node runs

export interface RunState {
	total: number;
	startedAt?: string;
	/** Keyed by `batchRun.seq`: an item that arrives twice counts once, the later wins. */
	entries: Record<string, ReportEntry>;
	emitted: boolean;
}

/** Lives in the node's execution context (`getContext('node')`); plain JSON. */
export interface CollectorState {
	runs?: Record<string, RunState>;
}

export interface Collected {
	/** Runs whose last item arrived now (in arrival order). */
	complete: Array<{ runId: string; startedAt?: string; entries: ReportEntry[] }>;
	/** Items without a `batchRun` stamp (no Batch Prepare upstream): reported per node run. */
	unscoped: ReportEntry[];
	/** Runs still waiting for items. */
	pending: Array<{ runId: string; seen: number; total: number }>;
	/** Items of runs already reported (arrived after their report). */
	late: number;
}

/** Adds one node run's items to `state` (mutated) and returns the runs that are now complete. */
export function collect(
	state: CollectorState,
	items: readonly Json[],
	fields: ReportFields = REPORT_FIELD_DEFAULTS,
): Collected {
	state.runs ??= {};
	const runs = state.runs;
	const touched: string[] = [];
	const unscoped: ReportEntry[] = [];
	let late = 0;
	for (const json of items) {
		const stamp = getPath(json, fields.runField) as
			| { id?: unknown; total?: unknown; seq?: unknown; startedAt?: unknown }
			| undefined;
		const entry = toEntry(json, fields);
		if (
			!stamp ||
			typeof stamp.id !== 'string' ||
			typeof stamp.total !== 'number' ||
			typeof stamp.seq !== 'number'
		) {
			unscoped.push(entry);
			continue;
		}
		let run = runs[stamp.id];
		if (!run) {
			run = runs[stamp.id] = { total: stamp.total, entries: {}, emitted: false };
			if (typeof stamp.startedAt === 'string') run.startedAt = stamp.startedAt;
		}
		if (run.emitted) {
			late++;
			continue;
		}
		run.entries[String(stamp.seq)] = entry;
		if (!touched.includes(stamp.id)) touched.push(stamp.id);
	}
	const complete: Collected['complete'] = [];
	const pending: Collected['pending'] = [];
	for (const runId of touched) {
		const run = runs[runId];
		const seen = Object.keys(run.entries).length;
		if (seen >= run.total) {
			complete.push({ runId, startedAt: run.startedAt, entries: Object.values(run.entries) });
			run.emitted = true;
			// The entries are not needed once reported; keep the execution data small.
			run.entries = {};
		} else {
			pending.push({ runId, seen, total: run.total });
		}
	}
	return { complete, unscoped, pending, late };
}

// ---------------------------------------------------------------------------------------
// The report

export interface Report {
	runId: string | null;
	items: number;
	outcomes: Record<ReportOutcome, number>;
	byErrorCode: Record<string, number>;
	/** success / (items - rejected); null when nothing was processed. */
	successRate: number | null;
	retries: { items: number; trips: number; extraCallAttempts: number };
	tokens: { input: number; output: number; total: number };
	/**
	 * Prompt caching: input tokens served from the cache and written to it, and the money
	 * it saved (reads' discount minus writes' premium, at the built-in prices).
	 */
	cache: { readTokens: number; writeTokens: number; savedUsd: number };
	/**
	 * Answers served from the response cache (present when any): paid by the calls that
	 * stored them, so left out of `tokens` and `costUsd`; `savedUsd` is what they cost then.
	 */
	responseCache?: { items: number; savedUsd: number };
	/** Successful answers per model that gave them (the fallback chain shows here). */
	answersByModel: Record<string, number>;
	/** Of the rejected items: left out by a Batch Prepare sample (present when any). */
	notSampledItems?: number;
	costUsd: number;
	/** Items with a result but no known price. */
	costUnknownItems: number;
	/**
	 * Items answered through a provider batch API: what they cost, and what the same tokens
	 * would have cost in realtime (LLM Batch Call). Null when the run had none.
	 */
	batchApi: { items: number; costUsd: number; realtimeCostUsd: number; savedUsd: number } | null;
	latencyMs: { p50: number | null; p95: number | null; max: number | null };
	startedAt: string | null;
	finishedAt: string;
	durationMs: number | null;
	/** Items that reached the model (all but rejected) per minute of duration. */
	throughputPerMin: number | null;
	markdown: string;
	alerts: Alert[];
}

export interface AlertThresholds {
	/** 0..1; alert when successRate is below. */
	readonly minSuccessRate?: number;
	/** 0..1; alert when one error code's share of processed items is above. */
	readonly maxErrorShare?: number;
	/** Alert when the run's cost is above. */
	readonly maxCostUsd?: number;
}

export interface Alert {
	/** `noSuccess`: nothing succeeded — raised whatever the thresholds. */
	rule: 'noSuccess' | 'minSuccessRate' | 'maxErrorShare' | 'maxCostUsd';
	threshold: number;
	actual: number;
	errorCode?: string;
	message: string;
}

/** Nearest-rank percentile of ascending `sorted`. */
export function percentile(sorted: readonly number[], p: number): number | null {
	if (sorted.length === 0) return null;
	const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
	return sorted[Math.min(sorted.length, rank) - 1];
}

const round = (n: number, digits: number) => Math.round(n * 10 ** digits) / 10 ** digits;

function pct(part: number, whole: number): string {
	return whole === 0 ? '–' : `${(Math.round((part / whole) * 1000) / 10).toFixed(1)} %`;
}

function duration(ms: number | null): string {
	if (ms === null) return '–';
	const s = Math.round(ms / 1000);
	if (s < 60) return `${s}s`;
	const m = Math.floor(s / 60);
	if (m < 60) return `${m}m ${s % 60}s`;
	return `${Math.floor(m / 60)}h ${m % 60}m`;
}

function money(usd: number): string {
	return `$${usd.toFixed(usd < 1 ? 4 : 2)}`;
}

export function checkAlerts(
	report: Omit<Report, 'alerts' | 'markdown'>,
	t: AlertThresholds,
): Alert[] {
	const alerts: Alert[] = [];
	if (report.items > 0 && report.outcomes.success === 0) {
		// Every record rejected leaves the success rate undefined, so no threshold could fire.
		alerts.push({
			rule: 'noSuccess',
			threshold: 1,
			actual: 0,
			message: `No item succeeded (0 of ${report.items})`,
		});
	}
	if (
		t.minSuccessRate !== undefined &&
		report.successRate !== null &&
		report.successRate < t.minSuccessRate
	) {
		alerts.push({
			rule: 'minSuccessRate',
			threshold: t.minSuccessRate,
			actual: report.successRate,
			message: `Success rate ${pct(report.successRate, 1)} is below ${pct(t.minSuccessRate, 1)}`,
		});
	}
	const processed = report.items - report.outcomes.rejected;
	if (t.maxErrorShare !== undefined && processed > 0) {
		for (const [code, n] of Object.entries(report.byErrorCode)) {
			if (REJECTED_CODES.has(code)) continue;
			const share = n / processed;
			if (share > t.maxErrorShare) {
				alerts.push({
					rule: 'maxErrorShare',
					threshold: t.maxErrorShare,
					actual: round(share, 4),
					errorCode: code,
					message: `${code} hit ${pct(n, processed)} of processed items (limit ${pct(t.maxErrorShare, 1)})`,
				});
			}
		}
	}
	if (t.maxCostUsd !== undefined && report.costUsd > t.maxCostUsd) {
		alerts.push({
			rule: 'maxCostUsd',
			threshold: t.maxCostUsd,
			actual: report.costUsd,
			message: `Cost ${money(report.costUsd)} is above ${money(t.maxCostUsd)}`,
		});
	}
	return alerts;
}

export function toMarkdown(r: Omit<Report, 'markdown'>): string {
	const lines = [
		`**Batch report**${r.runId ? ` · run \`${r.runId}\`` : ''} · ${r.items} items · ${duration(r.durationMs)}`,
		'',
		'| outcome | items | share |',
		'|---|---:|---:|',
		...OUTCOMES.map((o) => `| ${o} | ${r.outcomes[o]} | ${pct(r.outcomes[o], r.items)} |`),
	];
	const codes = Object.entries(r.byErrorCode).sort(
		(a, b) => b[1] - a[1] || a[0].localeCompare(b[0]),
	);
	if (codes.length > 0) {
		lines.push(
			'',
			'| error code | items |',
			'|---|---:|',
			...codes.map(([code, n]) => `| ${code} | ${n} |`),
		);
	}
	const ms = (v: number | null) => (v === null ? '–' : `${Math.round(v)} ms`);
	lines.push(
		'',
		'| metric | value |',
		'|---|---:|',
		`| success rate | ${r.successRate === null ? '–' : pct(r.successRate, 1)} |`,
		`| retries | ${r.retries.items} items, ${r.retries.trips} trips, ${r.retries.extraCallAttempts} in-call |`,
		`| tokens in / out | ${r.tokens.input} / ${r.tokens.output} |`,
		...(r.cache.readTokens + r.cache.writeTokens > 0
			? [
					`| prompt cache | ${r.cache.readTokens} tokens read, ${r.cache.writeTokens} written, ${money(r.cache.savedUsd)} saved |`,
				]
			: []),
		...(r.responseCache
			? [
					`| response cache | ${r.responseCache.items} answers reused, ${money(r.responseCache.savedUsd)} saved |`,
				]
			: []),
		...(Object.keys(r.answersByModel).length > 1
			? [
					`| answers per model | ${Object.entries(r.answersByModel)
						.map(([m, n]) => `${m}: ${n}`)
						.join(', ')} |`,
				]
			: []),
		`| cost | ${money(r.costUsd)}${r.costUnknownItems > 0 ? ` (+${r.costUnknownItems} items of unknown price)` : ''} |`,
		`| latency p50 / p95 | ${ms(r.latencyMs.p50)} / ${ms(r.latencyMs.p95)} |`,
		`| throughput | ${r.throughputPerMin === null ? '–' : `${r.throughputPerMin} items/min`} |`,
		`| duration | ${duration(r.durationMs)} |`,
	);
	if (r.batchApi) {
		lines.push(
			`| batch API | ${r.batchApi.items} items: ${money(r.batchApi.costUsd)} (realtime would be ${money(r.batchApi.realtimeCostUsd)}, saved ${money(r.batchApi.savedUsd)}) |`,
		);
	}
	if (r.alerts.length > 0) lines.push('', ...r.alerts.map((a) => `**ALERT:** ${a.message}`));
	return lines.join('\n');
}

export function buildReport(
	entries: readonly ReportEntry[],
	opts: {
		runId?: string | null;
		startedAt?: string;
		finishedAt: number;
		thresholds?: AlertThresholds;
	},
): Report {
	const outcomes = Object.fromEntries(OUTCOMES.map((o) => [o, 0])) as Record<ReportOutcome, number>;
	const byErrorCode: Record<string, number> = {};
	const latencies: number[] = [];
	let retryItems = 0;
	let trips = 0;
	let extra = 0;
	let input = 0;
	let output = 0;
	let cost = 0;
	let costUnknown = 0;
	let batchItems = 0;
	let batchCost = 0;
	let batchRealtime = 0;
	let cacheRead = 0;
	let cacheWrite = 0;
	let cacheSaved = 0;
	let reusedItems = 0;
	let reusedSaved = 0;
	const answersByModel: Record<string, number> = {};
	let notSampled = 0;
	let firstStart: number | undefined;
	let lastDone: number | undefined;
	for (const e of entries) {
		outcomes[e.outcome]++;
		if (e.errorCode !== undefined) byErrorCode[e.errorCode] = (byErrorCode[e.errorCode] ?? 0) + 1;
		if (e.retries > 0) retryItems++;
		trips += e.retries;
		extra += e.extraCallAttempts;
		input += e.inputTokens;
		output += e.outputTokens;
		if (e.costUsd !== undefined) cost += e.costUsd;
		else if (e.inputTokens + e.outputTokens > 0) costUnknown++;
		if (e.realtimeCostUsd !== undefined) {
			batchItems++;
			batchCost += e.costUsd ?? 0;
			batchRealtime += e.realtimeCostUsd;
		}
		if (e.notSampled) notSampled++;
		cacheRead += e.cachedInputTokens ?? 0;
		cacheWrite += e.cacheWriteTokens ?? 0;
		cacheSaved += e.cacheSavedUsd ?? 0;
		if (e.responseCacheSavedUsd !== undefined) {
			reusedItems++;
			reusedSaved += e.responseCacheSavedUsd;
		}
		if (e.model !== undefined) answersByModel[e.model] = (answersByModel[e.model] ?? 0) + 1;
		if (e.latencyMs !== undefined) latencies.push(e.latencyMs);
		if (e.completedAt !== undefined) {
			const start = e.completedAt - (e.latencyMs ?? 0);
			firstStart = firstStart === undefined ? start : Math.min(firstStart, start);
			lastDone = lastDone === undefined ? e.completedAt : Math.max(lastDone, e.completedAt);
		}
	}
	latencies.sort((a, b) => a - b);

	const stamped = opts.startedAt !== undefined ? Date.parse(opts.startedAt) : Number.NaN;
	const started = Number.isFinite(stamped) ? stamped : firstStart;
	const finished = Number.isFinite(stamped) ? opts.finishedAt : (lastDone ?? opts.finishedAt);
	const durationMs = started === undefined ? null : Math.max(0, finished - started);
	const processed = entries.length - outcomes.rejected;
	const base: Omit<Report, 'alerts' | 'markdown'> = {
		runId: opts.runId ?? null,
		items: entries.length,
		outcomes,
		byErrorCode,
		successRate: processed === 0 ? null : round(outcomes.success / processed, 4),
		retries: { items: retryItems, trips, extraCallAttempts: extra },
		tokens: { input, output, total: input + output },
		cache: { readTokens: cacheRead, writeTokens: cacheWrite, savedUsd: round(cacheSaved, 8) },
		...(reusedItems > 0
			? { responseCache: { items: reusedItems, savedUsd: round(reusedSaved, 8) } }
			: {}),
		answersByModel,
		...(notSampled > 0 ? { notSampledItems: notSampled } : {}),
		costUsd: round(cost, 8),
		costUnknownItems: costUnknown,
		batchApi:
			batchItems === 0
				? null
				: {
						items: batchItems,
						costUsd: round(batchCost, 8),
						realtimeCostUsd: round(batchRealtime, 8),
						savedUsd: round(batchRealtime - batchCost, 8),
					},
		latencyMs: {
			p50: percentile(latencies, 50),
			p95: percentile(latencies, 95),
			max: latencies.length ? latencies[latencies.length - 1] : null,
		},
		startedAt: started === undefined ? null : new Date(started).toISOString(),
		finishedAt: new Date(finished).toISOString(),
		durationMs,
		throughputPerMin:
			durationMs === null || durationMs === 0 ? null : round((processed / durationMs) * 60_000, 1),
	};
	const alerts = checkAlerts(base, opts.thresholds ?? {});
	const withAlerts = { ...base, alerts };
	return { ...withAlerts, markdown: toMarkdown(withAlerts) };
}

/**
 * One report over exactly the given items (the "On Every Node Run" mode): the run ID when
 * all items carry the same Batch Prepare stamp, the earliest stamped start.
 */
export function reportOfItems(
	items: readonly Json[],
	fields: ReportFields,
	opts: { finishedAt: number; thresholds?: AlertThresholds },
): Report | undefined {
	if (items.length === 0) return undefined;
	const stamps = items.map(
		(j) => getPath(j, fields.runField) as { id?: unknown; startedAt?: unknown } | undefined,
	);
	const ids = new Set(stamps.map((s) => (typeof s?.id === 'string' ? s.id : null)));
	const starts = stamps
		.map((s) => (typeof s?.startedAt === 'string' ? s.startedAt : undefined))
		.filter((s): s is string => s !== undefined)
		.sort();
	return buildReport(
		items.map((j) => toEntry(j, fields)),
		{
			runId: ids.size === 1 ? [...ids][0] : null,
			startedAt: starts[0],
			finishedAt: opts.finishedAt,
			thresholds: opts.thresholds,
		},
	);
}
