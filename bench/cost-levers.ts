/**
 * The cost levers side by side, in one run: each scenario module in bench/cost-levers/ runs
 * its composition and its baseline against the sandbox and returns rows (cost from the usage
 * the sandbox billed); this prints them as one table and exits non-zero when a target is
 * missed.
 *
 * `npm run bench:cost-levers [-- --quick]` (--quick: 200 records per scenario instead of 2,000).
 */
import type { CostLeverRow } from './cost-levers/row';

/**
 * The scenarios, in the order the table shows them: grouped + cached batch jobs, Flex
 * processing, the cheap-first cascade, example 01's cheapest variant by its deadline, and
 * Batch Report's cost table against the bill.
 */
const SCENARIOS = [
	'batch-grouped-cached',
	'flex',
	'cascade',
	'example-01-cheapest',
	'report-equals-billed',
] as const;

interface Scenario {
	run(): Promise<CostLeverRow[]>;
}

const money = (usd: number) => `$${usd.toFixed(usd < 1 ? 4 : 2)}`;

function print(rows: readonly CostLeverRow[]): void {
	console.table(
		rows.map((r) => ({
			scenario: r.scenario,
			provider: r.provider,
			items: r.items,
			correct: r.correct,
			misattributed: r.misattributed,
			cost: money(r.costUsd),
			baseline: money(r.baselineUsd),
			ratio: `${(r.ratio * 100).toFixed(1)} %`,
			target: r.target,
			met: r.met ? 'yes' : 'NO',
			note: r.note ?? '',
		})),
	);
}

/** A scenario module that is not there is a missed row, not a crash of the whole table. */
async function runScenario(name: string): Promise<CostLeverRow[]> {
	let scenario: Scenario;
	try {
		scenario = (await import(`./cost-levers/${name}`)) as Scenario;
	} catch (e) {
		if ((e as { code?: string }).code !== 'MODULE_NOT_FOUND') throw e;
		const missing = { provider: '–', items: 0, correct: 0, misattributed: 0, costUsd: 0 };
		return [
			{
				...missing,
				scenario: name,
				baselineUsd: 0,
				ratio: 0,
				target: 'runs',
				met: false,
				note: `bench/cost-levers/${name}.ts is missing`,
			},
		];
	}
	return scenario.run();
}

async function main(): Promise<void> {
	const rows: CostLeverRow[] = [];
	for (const name of SCENARIOS) {
		const started = Date.now();
		// A path per scenario (not a static import) so each module loads, and its sandbox starts,
		// only when its turn comes.
		const got = await runScenario(name);
		process.stderr.write(
			`${name}: ${got.length} rows in ${Math.round((Date.now() - started) / 1000)} s\n`,
		);
		rows.push(...got);
	}
	print(rows);
	const missed = rows.filter((r) => !r.met);
	if (missed.length > 0) {
		console.error(
			`${missed.length} row(s) missed their target: ${missed.map((r) => r.scenario).join('; ')}`,
		);
		process.exitCode = 1;
	}
}

main().catch((e) => {
	console.error(e);
	process.exitCode = 1;
});
