/**
 * `npm run bench [-- --quick]`: the three core measurements (throughput, overhead, memory), printed side by side as
 * one Markdown table (also written to bench/RESULTS.md on a full run).
 *
 * --quick   smoke run with small sizes ((a) 200 items, (b) 4 rounds × 500, (c) 2,000 items;
 *           about a minute); prints the table but does not overwrite bench/RESULTS.md.
 * Full run: (a) 2,000 items per contender at 1,200 RPM (~100 s for the node, by design),
 *           (b) 8 rounds × 2,000 items each, (c) 20,000 items; about 6 minutes in all.
 * --only a,b,c   run only some parts (the table shows the others as not run).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';

import { sizesFrom } from './common';
import { FAULTS_BEGIN, FAULTS_END } from './faults';
import { mb, measureMemory, type MemoryResult } from './memory';
import { measureOverhead, type OverheadResult } from './overhead';
import {
	measureUtilisation,
	UTILISATION_CONCURRENCY,
	UTILISATION_RPM,
	type UtilisationResult,
} from './utilisation';

const TARGET_UTILISATION = 0.97;
const TARGET_429 = 0.01;
const TARGET_OVERHEAD = 1.1;
const TARGET_RSS = 1.5;

const log = (line: string) => console.log(line);
const int = (n: number) => Math.round(n).toLocaleString('en-US');
const pct = (x: number) => `${(x * 100).toFixed(x < 0.1 && x > 0 ? 2 : 1)} %`;
const secs = (ms: number) => `${(ms / 1000).toFixed(0)} s`;
const verdict = (ok: boolean) => (ok ? 'pass' : '**miss**');

function table(
	sizes: ReturnType<typeof sizesFrom>,
	u?: UtilisationResult[],
	o?: OverheadResult,
	m?: MemoryResult,
): string {
	const rows: string[][] = [];
	if (u) {
		const [node, base] = u;
		rows.push(
			[
				`(a) Utilisation: successful requests/min ÷ ${int(UTILISATION_RPM)} RPM limit (${int(node.items)} items, latency 50–300 ms, concurrency ${UTILISATION_CONCURRENCY})`,
				`${node.utilisation.toFixed(3)} (${int(node.achievedRpm)}/min for ${secs(node.durationMs)})`,
				`${base.utilisation.toFixed(3)} (${int(base.achievedRpm)}/min for ${secs(base.durationMs)}${base.failed > 0 ? `, then it gave up: ${int(base.succeeded)} of ${int(base.items)} items done` : ''})`,
				`≥ ${TARGET_UTILISATION}`,
				verdict(node.utilisation >= TARGET_UTILISATION),
			],
			[
				'(a) Requests answered 429',
				`${pct(node.share429)} (${int(node.rateLimited)} of ${int(node.requests)})`,
				`${pct(base.share429)} (${int(base.rateLimited)} of ${int(base.requests)})`,
				`≤ ${pct(TARGET_429)}`,
				verdict(node.share429 <= TARGET_429),
			],
			[
				'(a) Items failed',
				int(node.failed),
				`${int(base.failed)}${base.firstFailureAfterItems !== undefined ? ` (first after ${int(base.firstFailureAfterItems)} items)` : ''}`,
				'0',
				verdict(node.failed === 0),
			],
		);
	} else
		rows.push([
			'(a) Utilisation',
			'not run',
			'not run',
			`≥ ${TARGET_UTILISATION}, ≤ ${pct(TARGET_429)} 429`,
			'–',
		]);
	if (o) {
		rows.push(
			[
				`(b) Client CPU per item, zero-latency provider (median of ${o.rounds} × ${int(o.items)} items)`,
				`${int(o.engineUsPerItem)} µs (engine)`,
				`${int(o.bareUsPerItem)} µs (bare SDK + p-limit)`,
				'–',
				'–',
			],
			[
				'(b) Overhead ratio engine ÷ bare (median of per-round ratios)',
				`${o.ratio.toFixed(3)} (rounds ${o.ratioRange[0].toFixed(2)}–${o.ratioRange[1].toFixed(2)}; ratio of medians ${o.ratioOfMedians.toFixed(3)})`,
				'1',
				`≤ ${TARGET_OVERHEAD}`,
				verdict(o.ratio <= TARGET_OVERHEAD),
			],
			[
				'(b) Reference, not a target: bare loop passing an AbortSignal + timeout per call, as the engine must for cancellation',
				'–',
				`${int(o.bareSignalUsPerItem)} µs (${o.signalRatio.toFixed(3)}× bare)`,
				'–',
				'–',
			],
		);
	} else rows.push(['(b) Overhead ratio', 'not run', 'not run', `≤ ${TARGET_OVERHEAD}`, '–']);
	if (m) {
		rows.push(
			[
				`(c) Peak RSS, ${int(m.items)} items through the workflow`,
				`${mb(m.node.maxRssBytes)} (LLM Batch Call)`,
				`${mb(m.passthrough.maxRssBytes)} (pass-through node)`,
				'–',
				'–',
			],
			[
				'(c) RSS ratio node ÷ pass-through',
				`${m.ratio.toFixed(2)}×`,
				'1×',
				`≤ ${TARGET_RSS}×`,
				verdict(m.ratio <= TARGET_RSS),
			],
			[
				'(c) Reference, not a target: pass-through workflow + bare SDK & p-limit loop over the same items',
				'–',
				`${mb(m.sdk.maxRssBytes)} (${(m.sdk.maxRssBytes / m.passthrough.maxRssBytes).toFixed(2)}× pass-through; node ÷ this = ${(m.node.maxRssBytes / m.sdk.maxRssBytes).toFixed(2)}×)`,
				'–',
				'–',
			],
			[
				'(c) Live heap after a full GC at the end (retained, not garbage)',
				mb(m.node.retainedHeapBytes ?? 0),
				`${mb(m.passthrough.retainedHeapBytes ?? 0)} (pass-through), ${mb(m.sdk.retainedHeapBytes ?? 0)} (SDK loop)`,
				'–',
				'–',
			],
		);
	} else rows.push(['(c) RSS ratio', 'not run', 'not run', `≤ ${TARGET_RSS}×`, '–']);

	const header = ['Measure', 'LLM Batch Call', 'Baseline', 'Target', 'Result'];
	const lines = [
		`| ${header.join(' | ')} |`,
		`|${header.map(() => '---').join('|')}|`,
		...rows.map((r) => `| ${r.join(' | ')} |`),
	];
	const env = `Node ${process.version}, ${cpus()[0]?.model ?? 'unknown CPU'} × ${cpus().length}, ${new Date().toISOString().slice(0, 10)}${sizes.quick ? ' — QUICK smoke run, small sizes' : ''}`;
	const how = [
		'',
		`<sub>${env}. Sandbox in its own process, fresh for each contender.`,
		'(a) rate = the sandbox’s successful answers ÷ (first request in → last answer out, both timed by the sandbox);',
		'the sandbox’s bucket starts full (1 s of burst), so a perfect client reaches about 1.01;',
		'429 share = the sandbox’s 429 answers ÷ all requests it received; node run as a real workflow (n8n-core WorkflowExecute, RPM 1,200);',
		'baseline = openai SDK with default retries, `Promise.all` over p-limit, errors caught per item so the run completes.',
		'(b) `process.cpuUsage()` (user + system) of the client process per item; engine = BatchRunner + FlowController (finite, very high limit) + the openai provider,',
		'given a cancel signal as the node passes n8n’s; bare = `new OpenAI({ maxRetries: 0 })` + p-limit, same request body and concurrency;',
		'GC before each round; 2 warm-ups each, then alternating (ABBA) rounds; CPU time is noisy on a busy machine, hence the median of per-round ratios.',
		'(c) `process.resourceUsage().maxRSS` at the end of a child process running only that workflow (zero latency, concurrency 32); live heap read after the peak.</sub>',
	];
	return [...lines, ...how].join('\n');
}

async function main(): Promise<void> {
	const argv = process.argv.slice(2);
	const sizes = sizesFrom(argv);
	const onlyArg =
		argv.find((a) => a.startsWith('--only='))?.slice(7) ??
		(argv.includes('--only') ? argv[argv.indexOf('--only') + 1] : undefined);
	const only = new Set((onlyArg ?? 'a,b,c').split(','));
	if (typeof (globalThis as { gc?: unknown }).gc !== 'function')
		log('note: run with --expose-gc (npm run bench does) so rounds start from a collected heap');

	const started = Date.now();
	const o = only.has('b')
		? await measureOverhead(sizes.overheadItems, sizes.overheadRounds, log)
		: undefined;
	const m = only.has('c') ? await measureMemory(sizes.memoryItems, log) : undefined;
	const u = only.has('a') ? await measureUtilisation(sizes.utilisationItems, log) : undefined;

	const md = table(sizes, u, o, m);
	log('');
	log(md);
	log('');
	log(`(benchmark took ${((Date.now() - started) / 1000).toFixed(0)} s)`);
	if (!sizes.quick && only.size === 3) {
		const file = join(process.cwd(), 'bench', 'RESULTS.md');
		const intro =
			'From `npm run bench` (bench/run.ts, about 6 minutes; `npm run bench -- --quick` is a smoke run with small sizes that does not write this file). What the rows mean: [docs/benchmarks.md](../docs/benchmarks.md).';
		// Keep the section `npm run bench:faults` writes (bench/faults.ts).
		let faults = '';
		try {
			const old = readFileSync(file, 'utf8');
			const a = old.indexOf(FAULTS_BEGIN);
			const b = old.indexOf(FAULTS_END);
			if (a >= 0 && b > a) faults = `\n${old.slice(a, b + FAULTS_END.length)}\n`;
		} catch {
			// no earlier results
		}
		writeFileSync(file, `# Benchmark results\n\n${intro}\n\n${md}\n${faults}`);
		log(`written to ${file}`);
	}
}

main().then(
	() => process.exit(0),
	(e: unknown) => {
		console.error(e);
		process.exit(1);
	},
);
