/**
 * `npm run bench:faults [-- --quick] [-- --only clean,incident,...]`: the engine under
 * real-world faults and limits, printed side by side with a baseline in the same
 * run and written into bench/RESULTS.md (between the faults markers) on a full run.
 *
 * Six scenarios, 2,000 items each, a sandbox limit of 1,200 RPM, latency 50–300 ms; every
 * contender gets a fresh sandbox process (full buckets, same seed):
 *   clean      — no faults, RPM configured = the real limit
 *   incident   — the sandbox's `incident` profile (16 % mixed transient faults), node defaults
 *   too-high   — the node (and the baseline) configured at 2,400 RPM on a 1,200 RPM limit
 *   too-high-no-headers — the same, the provider sending no rate-limit headers (AIMD alone)
 *   outage     — 100 % 503 for 60 s starting 30 s after the first call
 *   cost-cap   — a cost cap of about half the run's cost
 * The node runs as a real workflow (n8n-core WorkflowExecute) with its defaults except RPM,
 * TPM, concurrency 16 and max tokens. Baseline: Bottleneck (20 req/s, 40 when configured 2x;
 * at most 16 at once) in front of the openai SDK with its default retries (2, honouring
 * Retry-After), a cost cap by `limiter.stop()` once the cap is spent.
 *
 * Full scale takes about 20 minutes (each run is bounded by the limit: 2,000 items at
 * 1,200 RPM is 100 s). `--quick` runs 300 items and a 10 s outage as a smoke test.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';

import Bottleneck from 'bottleneck';
import OpenAI from 'openai';

import { costUsd } from '../core/cost';
import { runWorkflow } from '../scripts/lib/harness';
import {
	API_KEY,
	credentials,
	llmWorkflow,
	MAX_TOKENS,
	MODEL,
	nodeTypes,
	spawnSandbox,
	ticketText,
	tickets,
	type RemoteStats,
} from './common';

const LIMIT_RPM = 1_200;
const CONCURRENCY = 16;
const LATENCY = '50-300';
/** About what one ticket costs at the sandbox's token counts (22 in, 22 out). */
const COST_PER_ITEM = costUsd(MODEL, { inputTokens: 22, outputTokens: 22 }) ?? 0;

export const SCENARIOS = [
	'clean',
	'incident',
	'too-high',
	'too-high-no-headers',
	'outage',
	'cost-cap',
] as const;
type Scenario = (typeof SCENARIOS)[number];

interface Plan {
	sandboxArgs: string[];
	/** RPM the contenders are configured with. */
	configuredRpm: number;
	costCapUsd?: number;
}

function plan(s: Scenario, items: number, quick: boolean): Plan {
	const base = ['--rpm', String(LIMIT_RPM), '--latency', LATENCY, '--seed', '7'];
	switch (s) {
		case 'clean':
			return { sandboxArgs: base, configuredRpm: LIMIT_RPM };
		case 'incident':
			return { sandboxArgs: [...base, '--profile', 'incident'], configuredRpm: LIMIT_RPM };
		case 'too-high':
			// low-limit halves what it is given: a client configured at 2,400 meets 1,200
			return {
				sandboxArgs: ['--rpm', String(2 * LIMIT_RPM), '--latency', LATENCY, '--seed', '7'].concat([
					'--profile',
					'low-limit',
				]),
				configuredRpm: 2 * LIMIT_RPM,
			};
		case 'too-high-no-headers':
			// the same, but the provider sends no rate-limit headers: only 429s teach the limit (AIMD)
			return {
				sandboxArgs: [
					'--rpm',
					String(2 * LIMIT_RPM),
					'--latency',
					LATENCY,
					'--seed',
					'7',
					'--profile',
					'low-limit',
					'--no-rate-headers',
				],
				configuredRpm: 2 * LIMIT_RPM,
			};
		case 'outage':
			return {
				sandboxArgs: [...base, '--outage', quick ? '5-10' : '30-60'],
				configuredRpm: LIMIT_RPM,
			};
		case 'cost-cap':
			return {
				sandboxArgs: base,
				configuredRpm: LIMIT_RPM,
				costCapUsd: Number((COST_PER_ITEM * items * 0.5).toFixed(6)),
			};
	}
}

export interface FaultResult {
	contender: string;
	items: number;
	succeeded: number;
	failed: number;
	requests: number;
	rateLimited429: number;
	share429: number;
	durationMs: number;
	/** Requests the sandbox admitted (past its limiter) per minute ÷ the real limit. */
	admittedShare: number;
	/** Paid successful answers per minute ÷ the real limit. */
	utilisation: number;
	outageRequests: number;
	/** Paid answers (200, not a fault) that did not reach the success output. */
	paidDiscarded: number;
	failuresByCode: Record<string, number>;
}

interface Stats extends RemoteStats {
	outageRequests?: number;
}

function summarise(
	contender: string,
	items: number,
	delivered: number,
	failuresByCode: Record<string, number>,
	s: Stats,
): FaultResult {
	const durationMs = Math.max(1, s.lastAnswerAt - s.firstArrivalAt);
	const perMin = (n: number) => (n / durationMs) * 60_000;
	const limited = s.byStatus['429'] ?? 0;
	return {
		contender,
		items,
		succeeded: delivered,
		failed: items - delivered,
		requests: s.requests,
		rateLimited429: limited,
		share429: s.requests === 0 ? 0 : limited / s.requests,
		durationMs,
		admittedShare: perMin(s.accepted) / LIMIT_RPM,
		utilisation: perMin(s.paidSuccesses) / LIMIT_RPM,
		outageRequests: s.outageRequests ?? 0,
		paidDiscarded: Math.max(0, s.paidSuccesses - delivered),
		failuresByCode,
	};
}

async function runNode(s: Scenario, items: number, quick: boolean): Promise<FaultResult> {
	const p = plan(s, items, quick);
	const sandbox = await spawnSandbox(p.sandboxArgs);
	try {
		const wf = llmWorkflow({
			concurrency: CONCURRENCY,
			requestsPerMinute: p.configuredRpm,
			tokensPerMinute: 100_000_000,
			options: {
				maxTokens: MAX_TOKENS,
				progressIntervalSeconds: 0,
				...(p.costCapUsd !== undefined ? { maxCostUsd: p.costCapUsd } : {}),
			},
		});
		const res = await runWorkflow(wf, {
			nodeTypes: nodeTypes(),
			credentials: credentials(sandbox.url),
			input: tickets(items),
		});
		if (res.run.status !== 'success')
			throw new Error(`workflow ended with status ${res.run.status}`);
		const ok = res.items('LLM Batch Call', 0);
		const failed = res.items('LLM Batch Call', 1);
		if (ok.length + failed.length !== items)
			throw new Error(`node returned ${ok.length} + ${failed.length} items for ${items}`);
		const codes: Record<string, number> = {};
		for (const it of failed) {
			const c = (it.json.error as { code?: string } | undefined)?.code ?? '?';
			codes[c] = (codes[c] ?? 0) + 1;
		}
		return summarise('LLM Batch Call', items, ok.length, codes, await sandbox.stats());
	} finally {
		await sandbox.close();
	}
}

async function runBaseline(s: Scenario, items: number, quick: boolean): Promise<FaultResult> {
	const p = plan(s, items, quick);
	const sandbox = await spawnSandbox(p.sandboxArgs);
	try {
		const client = new OpenAI({ apiKey: API_KEY, baseURL: `${sandbox.url}/v1` });
		const perSecond = p.configuredRpm / 60;
		const limiter = new Bottleneck({ maxConcurrent: CONCURRENCY, minTime: 1000 / perSecond });
		let spent = 0;
		let stopped = false;
		const codes: Record<string, number> = {};
		const results = await Promise.all(
			Array.from({ length: items }, (_, i) =>
				limiter
					.schedule(() =>
						client.chat.completions.create({
							model: MODEL,
							messages: [{ role: 'user', content: ticketText(i) }],
							max_tokens: MAX_TOKENS,
						}),
					)
					.then(
						(r) => {
							spent +=
								costUsd(MODEL, {
									inputTokens: r.usage?.prompt_tokens ?? 0,
									outputTokens: r.usage?.completion_tokens ?? 0,
								}) ?? 0;
							if (p.costCapUsd !== undefined && spent >= p.costCapUsd && !stopped) {
								stopped = true;
								void limiter.stop({ dropWaitingJobs: true });
							}
							return true;
						},
						(e: unknown) => {
							const k =
								(e as { status?: number }).status !== undefined
									? String((e as { status?: number }).status)
									: ((e as Error).name ?? 'error');
							codes[k] = (codes[k] ?? 0) + 1;
							return false;
						},
					),
			),
		);
		const ok = results.filter(Boolean).length;
		return summarise('Bottleneck + openai SDK', items, ok, codes, (await sandbox.stats()) as Stats);
	} finally {
		await sandbox.close();
	}
}

const int = (n: number) => Math.round(n).toLocaleString('en-US');
const pct = (x: number) => `${(x * 100).toFixed(1)} %`;
const verdict = (ok: boolean) => (ok ? 'pass' : '**miss**');

function cell(r: FaultResult, s: Scenario): string {
	const parts = [`${int(r.succeeded)}/${int(r.items)} ok`];
	if (s === 'clean' || s === 'too-high' || s === 'too-high-no-headers')
		parts.push(`util ${r.utilisation.toFixed(3)}`);
	if (s === 'incident') parts.push(`admitted ${r.admittedShare.toFixed(3)} of the limit`);
	parts.push(`429 ${pct(r.share429)} (${int(r.rateLimited429)}/${int(r.requests)})`);
	if (s === 'outage') parts.push(`${int(r.outageRequests)} requests in the outage`);
	if (s === 'cost-cap') parts.push(`${int(r.paidDiscarded)} paid answers discarded`);
	parts.push(`${(r.durationMs / 1000).toFixed(0)} s`);
	const codes = Object.entries(r.failuresByCode);
	if (codes.length > 0) parts.push(`failed: ${codes.map(([k, v]) => `${k} ${v}`).join(', ')}`);
	return parts.join(', ');
}

function target(s: Scenario, items: number): { text: string; met: (r: FaultResult) => boolean } {
	switch (s) {
		case 'clean':
			return {
				text: 'util ≥ 0.98, 0 % 429',
				met: (r) => r.utilisation >= 0.98 && r.rateLimited429 === 0 && r.failed === 0,
			};
		case 'incident':
			return {
				text: 'every recoverable item succeeds; admitted ≥ 0.95 of the limit',
				met: (r) => r.failed === 0 && r.admittedShare >= 0.95,
			};
		case 'too-high':
		case 'too-high-no-headers':
			return {
				text: '≤ 5 % 429; util ≥ 0.90 of the real limit',
				met: (r) => r.share429 <= 0.05 && r.utilisation >= 0.9 && r.failed === 0,
			};
		case 'outage':
			return {
				text: `all succeed; requests in the outage ≤ 2 % of items (${Math.floor(items * 0.02)})`,
				met: (r) => r.failed === 0 && r.outageRequests <= items * 0.02,
			};
		case 'cost-cap':
			return { text: 'paid answers discarded = 0', met: (r) => r.paidDiscarded === 0 };
	}
}

const LABEL: Record<Scenario, string> = {
	clean: 'clean',
	incident: 'incident profile (16 % mixed transient faults), node defaults',
	'too-high': 'limit configured 2× too high (2,400 RPM on 1,200)',
	'too-high-no-headers':
		'the same without rate-limit headers (not in the issue: only 429s teach the limit)',
	outage: 'outage mid-run (100 % 503)',
	'cost-cap': 'cost cap reached mid-run',
};

export function faultsTable(
	rows: Array<{ s: Scenario; node: FaultResult; base: FaultResult }>,
	items: number,
	quick: boolean,
): string {
	const header = [
		'Scenario',
		'LLM Batch Call',
		'Baseline (Bottleneck + openai SDK)',
		'Target',
		'Result',
	];
	const lines = [
		`| ${header.join(' | ')} |`,
		`|${header.map(() => '---').join('|')}|`,
		...rows.map(({ s, node, base }) => {
			const t = target(s, items);
			return `| ${LABEL[s]} | ${cell(node, s)} | ${cell(base, s)} | ${t.text} | ${verdict(t.met(node))} |`;
		}),
	];
	const env = `Node ${process.version}, ${cpus()[0]?.model ?? 'unknown CPU'} × ${cpus().length}, ${new Date().toISOString().slice(0, 10)}${quick ? ' — QUICK smoke run' : ''}`;
	return [
		...lines,
		'',
		`<sub>${env}. ${int(items)} items per run, sandbox limit ${int(LIMIT_RPM)} RPM (1 s burst), latency ${LATENCY} ms, a fresh sandbox process per run.`,
		'util = the sandbox’s paid successful answers per minute ÷ 1,200 (first request in → last answer out, timed by the sandbox);',
		'admitted = requests past the sandbox’s limiter per minute ÷ 1,200 (failed requests use the limit too);',
		'429 = the sandbox’s 429 answers ÷ all requests it received (the incident profile’s spurious 429s included);',
		'outage = calls the sandbox answered 503 inside the window; discarded = paid answers (200) that did not reach the success output.',
		'Node: a real workflow (n8n-core WorkflowExecute), concurrency 16, defaults otherwise. Baseline: Bottleneck `minTime` at the configured rate, `maxConcurrent` 16, openai SDK default retries (2) with Retry-After.</sub>',
	].join('\n');
}

export const FAULTS_BEGIN = '<!-- bench:faults begin -->';
export const FAULTS_END = '<!-- bench:faults end -->';

async function main(): Promise<void> {
	const argv = process.argv.slice(2);
	const quick = argv.includes('--quick');
	const onlyArg =
		argv.find((a) => a.startsWith('--only='))?.slice(7) ??
		(argv.includes('--only') ? argv[argv.indexOf('--only') + 1] : undefined);
	const scenarios = (onlyArg ? onlyArg.split(',') : [...SCENARIOS]) as Scenario[];
	for (const s of scenarios)
		if (!SCENARIOS.includes(s))
			throw new Error(`Unknown scenario ${s}; one of ${SCENARIOS.join(', ')}`);
	const items = quick ? 300 : 2_000;
	const started = Date.now();
	const rows: Array<{ s: Scenario; node: FaultResult; base: FaultResult }> = [];
	for (const s of scenarios) {
		const node = await runNode(s, items, quick);
		console.log(`${s}: node     ${cell(node, s)}`);
		const base = await runBaseline(s, items, quick);
		console.log(`${s}: baseline ${cell(base, s)}`);
		rows.push({ s, node, base });
	}
	const md = faultsTable(rows, items, quick);
	console.log(`\n${md}\n\n(took ${((Date.now() - started) / 1000).toFixed(0)} s)`);
	if (!quick && scenarios.length === SCENARIOS.length) {
		const file = join(process.cwd(), 'bench', 'RESULTS.md');
		let text = '';
		try {
			text = readFileSync(file, 'utf8');
		} catch {
			text = '# Benchmark results\n';
		}
		const section = `${FAULTS_BEGIN}\n\n## Under faults and wrong limits (\`npm run bench:faults\`)\n\n${md}\n\n${FAULTS_END}`;
		const a = text.indexOf(FAULTS_BEGIN);
		const b = text.indexOf(FAULTS_END);
		text =
			a >= 0 && b > a
				? text.slice(0, a) + section + text.slice(b + FAULTS_END.length)
				: `${text.trimEnd()}\n\n${section}\n`;
		writeFileSync(file, text);
		console.log(`written to ${file}`);
	}
}

if (require.main === module) {
	main().then(
		() => process.exit(0),
		(e: unknown) => {
			console.error(e);
			process.exit(1);
		},
	);
}
