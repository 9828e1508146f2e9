/**
 * `npm run bench [-- --quick]`: the three measurements of issue 2, printed side by side as
 * one Markdown table (also written to bench/RESULTS.md on a full run).
 *
 * --quick   smoke run with small sizes (200 / 500×2 / 2,000 items); prints the table but
 *           does not overwrite bench/RESULTS.md.
 * --only a,b,c   run only some parts (the table shows the others as not run).
 */
import { writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';

import { sizesFrom } from './common';
import { measureMemory, type MemoryResult } from './memory';
import { measureOverhead, type OverheadResult } from './overhead';
import { measureUtilisation, UTILISATION_CONCURRENCY, UTILISATION_RPM, type UtilisationResult } from './utilisation';

const TARGET_UTILISATION = 0.97;
const TARGET_429 = 0.01;
const TARGET_OVERHEAD = 1.1;
const TARGET_RSS = 1.5;

const log = (line: string) => console.log(line);
const int = (n: number) => Math.round(n).toLocaleString('en-US');
const pct = (x: number) => `${(x * 100).toFixed(x < 0.1 && x > 0 ? 2 : 1)} %`;
const mb = (b: number) => `${int(b / 2 ** 20)} MB`;
const verdict = (ok: boolean) => (ok ? 'pass' : '**miss**');

function table(sizes: ReturnType<typeof sizesFrom>, u?: UtilisationResult[], o?: OverheadResult, m?: MemoryResult): string {
	const rows: string[][] = [];
	if (u) {
		const [node, base] = u;
		rows.push(
			[
				`(a) Utilisation: successful requests/min ÷ ${int(UTILISATION_RPM)} RPM limit (${int(node.items)} items, latency 50–300 ms, concurrency ${UTILISATION_CONCURRENCY})`,
				`${node.utilisation.toFixed(3)} (${int(node.achievedRpm)}/min)`,
				`${base.utilisation.toFixed(3)} (${int(base.achievedRpm)}/min)`,
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
	} else rows.push(['(a) Utilisation', 'not run', 'not run', `≥ ${TARGET_UTILISATION}, ≤ ${pct(TARGET_429)} 429`, '–']);
	if (o) {
		rows.push(
			[
				`(b) Client CPU per item, zero-latency provider (median of ${o.rounds} × ${int(o.items)} items)`,
				`${int(o.engineUsPerItem)} µs (engine)`,
				`${int(o.bareUsPerItem)} µs (bare SDK + p-limit)`,
				'–',
				'–',
			],
			['(b) Overhead ratio engine ÷ bare', o.ratio.toFixed(3), '1', `≤ ${TARGET_OVERHEAD}`, verdict(o.ratio <= TARGET_OVERHEAD)],
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
			['(c) RSS ratio node ÷ pass-through', `${m.ratio.toFixed(2)}×`, '1×', `≤ ${TARGET_RSS}×`, verdict(m.ratio <= TARGET_RSS)],
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
		'(a) rate = the sandbox’s successful answers ÷ (first request sent → last answer received, timed by a wrapper around `fetch` in the client);',
		'429 share = the sandbox’s 429 answers ÷ all requests it received; node run as a real workflow (n8n-core WorkflowExecute, RPM 1,200);',
		'baseline = openai SDK with default retries, `Promise.all` over p-limit, errors caught per item so the run completes.',
		'(b) `process.cpuUsage()` (user + system) of the client process per item; GC before each round; warm-up, then alternating rounds.',
		'(c) `process.resourceUsage().maxRSS` at the end of a child process running only that workflow.</sub>',
	];
	return [...lines, ...how].join('\n');
}

async function main(): Promise<void> {
	const argv = process.argv.slice(2);
	const sizes = sizesFrom(argv);
	const onlyArg = argv.find((a) => a.startsWith('--only='))?.slice(7) ?? (argv.includes('--only') ? argv[argv.indexOf('--only') + 1] : undefined);
	const only = new Set((onlyArg ?? 'a,b,c').split(','));
	if (typeof (globalThis as { gc?: unknown }).gc !== 'function') log('note: run with --expose-gc (npm run bench does) so rounds start from a collected heap');

	const started = Date.now();
	const o = only.has('b') ? await measureOverhead(sizes.overheadItems, sizes.overheadRounds, log) : undefined;
	const m = only.has('c') ? await measureMemory(sizes.memoryItems, log) : undefined;
	const u = only.has('a') ? await measureUtilisation(sizes.utilisationItems, log) : undefined;

	const md = table(sizes, u, o, m);
	log('');
	log(md);
	log('');
	log(`(benchmark took ${((Date.now() - started) / 1000).toFixed(0)} s)`);
	if (!sizes.quick && only.size === 3) {
		const file = join(process.cwd(), 'bench', 'RESULTS.md');
		writeFileSync(file, `# Benchmark results\n\nFrom \`npm run bench\` (bench/run.ts).\n\n${md}\n`);
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
