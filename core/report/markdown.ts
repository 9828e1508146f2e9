/** The report as Markdown: outcomes, error codes, metrics, alerts. */
import { duration, money, pct } from './format';
import { OUTCOMES } from './outcome';
import type { CostTable, Counterfactual } from './cost-table';
import type { Report } from './types';

type Rendered = Omit<Report, 'markdown'>;

function errorCodeLines(r: Rendered): string[] {
	const codes = Object.entries(r.byErrorCode).sort(
		(a, b) => b[1] - a[1] || a[0].localeCompare(b[0]),
	);
	if (codes.length === 0) return [];
	return ['', '| error code | items |', '|---|---:|', ...codes.map(([c, n]) => `| ${c} | ${n} |`)];
}

/** Rows shown only when the run used the feature. */
function optionalMetricLines(r: Rendered): string[] {
	const lines: string[] = [];
	if (r.cache.readTokens + r.cache.writeTokens > 0)
		lines.push(
			`| prompt cache | ${r.cache.readTokens} tokens read, ${r.cache.writeTokens} written, ${money(r.cache.savedUsd)} saved |`,
		);
	if (r.responseCache)
		lines.push(
			`| response cache | ${r.responseCache.items} answers reused, ${money(r.responseCache.savedUsd)} saved |`,
		);
	if (Object.keys(r.answersByModel).length > 1)
		lines.push(
			`| answers per model | ${Object.entries(r.answersByModel)
				.map(([m, n]) => `${m}: ${n}`)
				.join(', ')} |`,
		);
	return lines;
}

function metricLines(r: Rendered): string[] {
	const ms = (v: number | null) => (v === null ? '–' : `${Math.round(v)} ms`);
	const lines = [
		'',
		'| metric | value |',
		'|---|---:|',
		`| success rate | ${r.successRate === null ? '–' : pct(r.successRate, 1)} |`,
		`| retries | ${r.retries.items} items, ${r.retries.trips} trips, ${r.retries.extraCallAttempts} in-call |`,
		`| tokens in / out | ${r.tokens.input} / ${r.tokens.output} |`,
		...optionalMetricLines(r),
		`| cost | ${money(r.costUsd)}${r.costUnknownItems > 0 ? ` (+${r.costUnknownItems} items of unknown price)` : ''} |`,
		`| latency p50 / p95 | ${ms(r.latencyMs.p50)} / ${ms(r.latencyMs.p95)} |`,
		`| throughput | ${r.throughputPerMin === null ? '–' : `${r.throughputPerMin} items/min`} |`,
		`| duration | ${duration(r.durationMs)} |`,
	];
	if (r.batchApi) {
		lines.push(
			`| batch API | ${r.batchApi.items} items: ${money(r.batchApi.costUsd)} (realtime would be ${money(r.batchApi.realtimeCostUsd)}, saved ${money(r.batchApi.savedUsd)}) |`,
		);
	}
	return lines;
}

/** Sub-cent amounts need more digits than `money` shows: cost per correct answer. */
function perAnswer(usd: number | null): string {
	return usd === null ? '–' : `$${usd.toFixed(usd < 0.01 ? 6 : 4)}`;
}

function counterfactualLine(label: string, c: Counterfactual, correct: number): string {
	const signed = c.savedUsd < 0 ? `-${money(-c.savedUsd)}` : money(c.savedUsd);
	const saved = `${signed}${c.savedPct === null ? '' : ` (${c.savedPct.toFixed(1)} %)`}`;
	return `| ${label} | ${correct} | ${correct} | ${money(c.costUsd)} | ${perAnswer(c.costPerCorrectUsd)} | ${saved} |`;
}

/** The cost table: cost per correct answer per model and in total, against naive / alone. */
function costTableLines(t: CostTable | null): string[] {
	if (!t || (t.byModel.length === 0 && t.correct === 0)) return [];
	const paid = t.byModel.reduce((n, row) => n + row.answers, 0);
	const lines = [
		'',
		'| cost per correct answer | answers paid | correct | cost | per correct | saved by this run |',
		'|---|---:|---:|---:|---:|---:|',
		...(t.byModel.length > 1
			? t.byModel.map(
					(m) =>
						`| ${m.model} | ${m.answers} | ${m.correct} | ${money(m.costUsd)} | ${perAnswer(m.costPerCorrectUsd)} | |`,
				)
			: []),
		`| this run${t.byModel.length === 1 ? ` (${t.byModel[0].model})` : ''} | ${paid} | ${t.correct} | ${money(t.costUsd)} | ${perAnswer(t.costPerCorrectUsd)} | |`,
	];
	if (t.naive)
		lines.push(
			counterfactualLine(
				`naive: ${t.naive.model}, one realtime call per item, no cache, no grouping`,
				t.naive,
				t.correct,
			),
		);
	if (t.alone) lines.push(counterfactualLine(`${t.alone.model} alone`, t.alone, t.correct));
	return lines;
}

export function toMarkdown(r: Rendered): string {
	const lines = [
		`**Batch report**${r.runId ? ` · run \`${r.runId}\`` : ''} · ${r.items} items · ${duration(r.durationMs)}`,
		'',
		'| outcome | items | share |',
		'|---|---:|---:|',
		...OUTCOMES.map((o) => `| ${o} | ${r.outcomes[o]} | ${pct(r.outcomes[o], r.items)} |`),
		...errorCodeLines(r),
		...metricLines(r),
		...costTableLines(r.costTable),
	];
	if (r.alerts.length > 0) lines.push('', ...r.alerts.map((a) => `**ALERT:** ${a.message}`));
	return lines.join('\n');
}
