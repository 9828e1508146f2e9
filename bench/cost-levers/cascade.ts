/**
 * Cheap first, strong only where needed: example 10 over 2,000 tickets with a cheap model that
 * is wrong and unsure on 15 % of them (sandbox `modelMisses`), against the strong model alone.
 * Target: accuracy equal to strong-only (every ticket the strong-only answer), cost ≤ 30 % of
 * strong-only; both costs from the sandbox's billed usage.
 *
 * Alone: `npm run build && node build/bench/cost-levers/cascade.js [--quick]`.
 */
import { startSandbox } from '../../sandbox/server';
import { CHEAP_MODEL, cascadeTickets, runCascade } from './cascade-run';
import type { CostLeverRow } from './row';

const MISS_SHARE = 0.15;
const TARGET = 0.3;

const sum = (usd: Record<string, number>) => Object.values(usd).reduce((a, b) => a + b, 0);

export async function run(
	items = process.argv.includes('--quick') ? 200 : 2000,
): Promise<CostLeverRow[]> {
	const sandbox = await startSandbox({ seed: 24, modelMisses: { [CHEAP_MODEL]: MISS_SHARE } });
	try {
		const tickets = cascadeTickets(items);
		const strong = await runCascade(sandbox, tickets, 'strongOnly');
		const cascade = await runCascade(sandbox, tickets);
		let correct = 0;
		for (const [id, answer] of cascade.answers) if (strong.answers.get(id) === answer) correct++;
		const costUsd = sum(cascade.billedUsd);
		const baselineUsd = sum(strong.billedUsd);
		const ratio = correct > 0 ? costUsd / correct / (baselineUsd / strong.answers.size) : Infinity;
		return [
			{
				scenario: 'cheap-first cascade (example 10)',
				provider: 'openai',
				items,
				correct,
				misattributed: cascade.misattributed,
				costUsd,
				baselineUsd,
				ratio,
				target: '≤ 30 % of strong-only, accuracy equal',
				met: correct === strong.answers.size && strong.answers.size === items && ratio <= TARGET,
				note: `${cascade.escalated} of ${items} escalated to the strong model; strong-only correct ${strong.answers.size}`,
			},
		];
	} finally {
		await sandbox.close();
	}
}

if (require.main === module) {
	run()
		.then((rows) => console.table(rows))
		.catch((e) => {
			console.error(e);
			process.exitCode = 1;
		});
}
