/**
 * Example 01's cheapest variant that still meets its deadline
 * (examples/01-nightly-ticket-classification-cheapest.json: Records per Request 10 and prompt
 * caching on the realtime path, ~500 tokens of triage instructions) against the same
 * workflow naive — one realtime call per ticket, no cache, no grouping — over 2,000 tickets,
 * sample gate included, costs from the sandbox's billed usage. Its sticky note quotes this row.
 * The half-price batch path is cheaper still (batch-grouped-cached) but the providers promise
 * it within 24 hours, not by morning.
 *
 * Alone: `npm run build && node build/bench/cost-levers/example-01-cheapest.js [--quick]`.
 */
import type { IDataObject, INodeExecutionData } from 'n8n-workflow';

import { resetSharedFlow } from '../../core/call/limiter/in-process';
import { startSandbox, type Sandbox } from '../../sandbox/server';
import { runWorkflow, type WorkflowJson } from '../../scripts/lib/harness';
import { packageNodeTypes } from '../../scripts/lib/node-types';
import { billedUsd, loadExample } from './cascade-run';
import type { CostLeverRow } from './row';

export const CHEAPEST_EXAMPLE = '01-nightly-ticket-classification-cheapest.json';
/** Example 01's call limit: what the deadline is measured against. */
const RPM = 500;

/** The variant as shipped (`naive`: one call per ticket, no cache), with local limits. */
export function cheapestWorkflow(naive: boolean): WorkflowJson {
	const wf = loadExample(CHEAPEST_EXAMPLE);
	return {
		...wf,
		nodes: wf.nodes.map((n) => {
			if (n.type !== 'n8n-nodes-llm-batch.llmBatchCall') return n;
			const options = { ...(n.parameters.options as IDataObject) };
			// Naive: one call per ticket, nothing cached; the variant keeps its own settings.
			if (naive) {
				delete options.recordsPerRequest;
				options.promptCaching = 'off';
			}
			return {
				...n,
				parameters: {
					...n.parameters,
					concurrency: 16,
					requestsPerMinute: 60_000,
					tokensPerMinute: 50_000_000,
					options: { ...options, progressIntervalSeconds: 0 },
				},
			};
		}),
	};
}

export function ticketsOf(n: number): INodeExecutionData[] {
	const bodies = [
		'I was charged twice for the March invoice.',
		'The app crashes when I log in on iOS.',
		'Please add an export to CSV.',
		'My password reset link has expired.',
	];
	return Array.from({ length: n }, (_, i) => ({
		json: {
			ticketId: `T${String(i).padStart(5, '0')}`,
			customerId: `C${i % 37}`,
			subject: `Ticket ${i}`,
			body: `${bodies[i % 4]} Reference ${i}.`,
		},
	}));
}

export async function runCheapest(sandbox: Sandbox, tickets: INodeExecutionData[], naive: boolean) {
	resetSharedFlow();
	sandbox.reset();
	const r = await runWorkflow(cheapestWorkflow(naive), {
		nodeTypes: packageNodeTypes(),
		credentials: { llmBatchOpenAiApi: { apiKey: 'bench', baseUrl: `${sandbox.url}/v1` } },
		pinData: { 'Open tickets': tickets, 'All tickets again': tickets },
	});
	if (r.run.status !== 'success') throw new Error(`example 01 run ${r.run.status}`);
	const valid = new Map<string, string>();
	let misattributed = 0;
	for (const { json } of r.items('Validate Output', 0)) {
		const llm = json.llm as { recordId: string; output: unknown };
		if (llm.recordId !== json.recordId) misattributed++;
		valid.set(String(json.recordId), JSON.stringify(llm.output));
	}
	return {
		valid,
		misattributed,
		requests: sandbox.stats().paidSuccesses,
		usd: Object.values(billedUsd(sandbox)).reduce((a, b) => a + b, 0),
	};
}

export async function run(
	items = process.argv.includes('--quick') ? 200 : 2000,
): Promise<CostLeverRow[]> {
	const sandbox = await startSandbox({ seed: 1 });
	try {
		const tickets = ticketsOf(items);
		const naive = await runCheapest(sandbox, tickets, true);
		const cheapest = await runCheapest(sandbox, tickets, false);
		let correct = 0;
		for (const [id, answer] of cheapest.valid) if (naive.valid.get(id) === answer) correct++;
		const ratio = cheapest.usd / correct / (naive.usd / naive.valid.size);
		const minutes = (n: number) => Math.ceil(n / RPM);
		return [
			{
				scenario:
					'example 01 cheapest by the deadline (Records per Request 10 + caching, realtime)',
				provider: 'openai',
				items,
				correct,
				misattributed: cheapest.misattributed,
				costUsd: cheapest.usd,
				baselineUsd: naive.usd,
				ratio,
				target: 'below naive, same answers',
				met: ratio < 1 && correct === naive.valid.size && cheapest.misattributed === 0,
				note: `${cheapest.requests} requests (≥ ${minutes(cheapest.requests)} min at ${RPM} RPM) vs ${naive.requests} naive (≥ ${minutes(naive.requests)} min)`,
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
