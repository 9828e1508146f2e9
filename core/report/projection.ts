/**
 * The sample gate: project a full run from a sample's measured report — cost, tokens,
 * failure mix, requests and duration (bounded by the rate limit) — so a workflow can stop
 * before it spends (an IF on `projection.overBudget`).
 */
import type { Report } from './types';

export interface ProjectionOptions {
	/** Items the full run will process. */
	readonly fullItems: number;
	/** The full run's request limit; bounds the projected duration. 0 / undefined = none. */
	readonly requestsPerMinute?: number;
	/** The budget the projected cost is held against. 0 / undefined = none. */
	readonly budgetUsd?: number;
}

export interface Projection {
	/** Items of the full run and of the sample it is projected from. */
	items: number;
	sampleItems: number;
	costUsd: number;
	tokens: { input: number; output: number };
	/** Requests, counting the sample's retries per item. */
	requests: number;
	/** Expected outcomes in the full run, by the sample's shares. */
	outcomes: Record<string, number>;
	byErrorCode: Record<string, number>;
	/** Longer of: at the sample's throughput, and at the rate limit. Null when unknown. */
	durationMs: number | null;
	budgetUsd: number | null;
	/** Null without a budget. */
	overBudget: boolean | null;
	/** Items with no known price in the sample: the projected cost leaves them out. */
	costUnknownShare: number;
}

const round = (x: number, d: number) => Math.round(x * 10 ** d) / 10 ** d;

/** Error codes of Batch Prepare's rejections (not_sampled is reported as invalid_input). */
const PREPARE_CODES = new Set(['invalid_input', 'duplicate']);

export function projectRun(sample: Report, o: ProjectionOptions): Projection {
	// Items Batch Prepare left out of the sample are not part of it.
	const notSampled = sample.notSampledItems ?? 0;
	const n = sample.items - notSampled;
	const rejectedInSample = sample.outcomes.rejected - notSampled;
	// Batch Prepare validates and dedupes every item before it draws the sample, so when it
	// sampled (notSampled > 0) its rejections are the full run's own, counted and not scaled;
	// only the drawn items are a sample of the rest. Without that, everything scales.
	const exactRejected = notSampled > 0 ? rejectedInSample : 0;
	const drawn = n - exactRejected;
	const factor = drawn > 0 ? Math.max(0, o.fullItems - exactRejected) / drawn : 0;
	const scaled = (x: number) => Math.round(x * factor);
	const processed = n - rejectedInSample;
	// One request per processed item plus the in-call retries the sample needed.
	const requests = Math.round((processed + sample.retries.extraCallAttempts) * factor);
	const byThroughput =
		sample.throughputPerMin && sample.throughputPerMin > 0
			? ((processed * factor) / sample.throughputPerMin) * 60_000
			: null;
	const byLimit =
		o.requestsPerMinute && o.requestsPerMinute > 0
			? (requests / o.requestsPerMinute) * 60_000
			: null;
	const durationMs =
		byThroughput === null && byLimit === null
			? null
			: Math.round(Math.max(byThroughput ?? 0, byLimit ?? 0));
	const costUsd = round(sample.costUsd * factor, 6);
	const budget = o.budgetUsd && o.budgetUsd > 0 ? o.budgetUsd : null;
	return {
		items: o.fullItems,
		sampleItems: n,
		costUsd,
		tokens: { input: scaled(sample.tokens.input), output: scaled(sample.tokens.output) },
		requests,
		outcomes: Object.fromEntries(
			Object.entries(sample.outcomes).map(([k, v]) => [
				k,
				k === 'rejected' ? exactRejected + scaled(rejectedInSample - exactRejected) : scaled(v),
			]),
		),
		byErrorCode: Object.fromEntries(
			Object.entries(sample.byErrorCode)
				.map(([k, v]) => {
					const count = k === 'invalid_input' ? v - notSampled : v;
					return [k, exactRejected > 0 && PREPARE_CODES.has(k) ? count : scaled(count)] as const;
				})
				.filter(([, v]) => v > 0),
		),
		durationMs,
		budgetUsd: budget,
		overBudget: budget === null ? null : costUsd > budget,
		costUnknownShare: n > 0 ? round(sample.costUnknownItems / n, 4) : 0,
	};
}

/** One Markdown line for the report. */
export function projectionMarkdown(p: Projection): string {
	const mins = p.durationMs === null ? '–' : `${Math.ceil(p.durationMs / 60_000)} min`;
	const budget =
		p.budgetUsd === null
			? ''
			: p.overBudget
				? ` — **over the budget of $${p.budgetUsd}**`
				: ` — within the budget of $${p.budgetUsd}`;
	return `| projected full run (${p.items} items from ${p.sampleItems}) | $${p.costUsd.toFixed(4)}, ${p.tokens.input + p.tokens.output} tokens, ${p.requests} requests, ${mins}${budget} |`;
}
