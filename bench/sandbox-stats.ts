/**
 * `npm run bench:stats`: the sandbox's rate accounting stays linear. The fault benches and the
 * queue-mode bench ask the sandbox for its busiest minute over every accepted request; this
 * times that scan over 200,000 timestamps against a baseline in the same run (one plain pass
 * over the same number of values) and checks the ratio stays under a ceiling — a regression to
 * a scan per request (quadratic) is thousands of times the baseline.
 */
import { StatsRecorder } from '../sandbox/stats';

const REQUESTS = 200_000;
const CEILING_RATIO = 200;

function time(fn: () => unknown): number {
	const start = performance.now();
	fn();
	return performance.now() - start;
}

export function measureStatsScan(): boolean {
	const s = new StatsRecorder();
	for (let i = 0; i < REQUESTS; i++) s.accept(i, 1);
	const values = Array.from({ length: REQUESTS }, (_, i) => i);
	let sink = 0;
	const base = Math.max(
		time(() => values.forEach((v) => (sink += v))),
		0.01,
	);
	let busiest = 0;
	const scan = time(() => (busiest = s.snapshot().maxRequestsPerWindow(60_000)));
	if (busiest !== 60_000 || sink < 0) throw new Error(`busiest minute ${busiest}, expected 60,000`);
	const ratio = scan / base;
	const pass = ratio <= CEILING_RATIO;
	console.log(
		[
			'| Timestamps | Baseline (one pass) | Busiest-minute scan | Ratio | Ceiling | Verdict |',
			'|---|---|---|---|---|---|',
			`| ${REQUESTS.toLocaleString('en-US')} | ${base.toFixed(2)} ms | ${scan.toFixed(2)} ms | ${ratio.toFixed(1)}x | ≤ ${CEILING_RATIO}x | ${pass ? 'pass' : '**miss**'} |`,
		].join('\n'),
	);
	return pass;
}

if (require.main === module) process.exitCode = measureStatsScan() ? 0 : 1;
