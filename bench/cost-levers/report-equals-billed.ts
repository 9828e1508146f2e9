/**
 * Batch Report's cost table against the sandbox's bill: every row the report shows — each
 * model's cost, the run's total, the cost per correct answer, and the counterfactuals (naive,
 * the strong model alone) — next to the same figure computed from the usage the sandbox
 * billed (per model, priced by core/cost.ts). The counterfactuals are billed by running them:
 * one realtime call per ticket on the primary model (naive) and on the strong model.
 *
 * Runs: example 10 (the cascade, OpenAI) and a grouped, prompt-cached run (Anthropic,
 * Records per Request 10, 3,000-token instructions: above the cache minimum) with its naive loop.
 *
 * Alone: `npm run build && node build/bench/cost-levers/report-equals-billed.js [--quick]`.
 */
import type { IDataObject, INodeExecutionData } from 'n8n-workflow';

import { resetSharedFlow } from '../../core/call/limiter/in-process';
import type { CostTable } from '../../core/report/cost-table';
import type { Report } from '../../core/report';
import { startSandbox, type Sandbox } from '../../sandbox/server';
import { runWorkflow, type WorkflowJson } from '../../scripts/lib/harness';
import { packageNodeTypes } from '../../scripts/lib/node-types';
import { billedUsd, CHEAP_MODEL, cascadeTickets, runCascade, STRONG_MODEL } from './cascade-run';
import type { CostLeverRow } from './row';

const TARGET = 'equal to the cent';
/** The counterfactuals are estimates from the run's own usage, billed by running them. */
const ESTIMATE_TARGET = 'estimate within 1 % of its run';
const cents = (usd: number) => Math.round(usd * 100);
const sum = (usd: Record<string, number>) => Object.values(usd).reduce((a, b) => a + b, 0);

function row(
	scenario: string,
	provider: string,
	items: number,
	correct: number,
	reported: number,
	billed: number,
	note?: string,
): CostLeverRow {
	const estimate = scenario.includes('(estimate vs its run)');
	const off = billed === 0 ? 0 : Math.abs(reported - billed) / billed;
	return {
		scenario,
		provider,
		items,
		correct,
		misattributed: 0,
		costUsd: reported,
		baselineUsd: billed,
		ratio: billed === 0 ? (reported === 0 ? 1 : Infinity) : reported / billed,
		target: estimate ? ESTIMATE_TARGET : TARGET,
		met: estimate ? off <= 0.01 : cents(reported) === cents(billed),
		note: note ?? `difference $${Math.abs(reported - billed).toFixed(8)}`,
	};
}

async function cascadeRows(items: number): Promise<CostLeverRow[]> {
	const sandbox = await startSandbox({ seed: 24, modelMisses: { [CHEAP_MODEL]: 0.15 } });
	try {
		const tickets = cascadeTickets(items);
		const cascade = await runCascade(sandbox, tickets);
		const strong = await runCascade(sandbox, tickets, 'strongOnly');
		const naive = await runCascade(sandbox, tickets, 'cheapOnly');
		const t = cascade.report.costTable as CostTable;
		const billed = cascade.billedUsd;
		const total = sum(billed);
		const at = (label: string) => `report = billed: cascade, ${label}`;
		const rows = t.byModel.map((m) =>
			row(at(m.model), 'openai', items, m.correct, m.costUsd, billed[m.model] ?? 0),
		);
		rows.push(
			row(at('total'), 'openai', items, t.correct, t.costUsd, total),
			row(
				at('per correct answer'),
				'openai',
				items,
				t.correct,
				t.costPerCorrectUsd ?? 0,
				total / t.correct,
			),
			row(
				at(`${STRONG_MODEL} alone (estimate vs its run)`),
				'openai',
				items,
				t.correct,
				t.alone?.costUsd ?? 0,
				sum(strong.billedUsd),
			),
			row(
				at(`naive ${CHEAP_MODEL} (estimate vs its run)`),
				'openai',
				items,
				t.correct,
				t.naive?.costUsd ?? 0,
				sum(naive.billedUsd),
			),
		);
		return rows;
	} finally {
		await sandbox.close();
	}
}

const GROUPED_MODEL = 'claude-3-5-haiku-latest';
const SCHEMA = {
	type: 'object',
	properties: {
		category: { type: 'string', enum: ['billing', 'bug', 'feature', 'account', 'other'] },
		priority: { type: 'string', enum: ['low', 'normal', 'high'] },
		echo: { type: 'string' },
	},
	required: ['category', 'priority', 'echo'],
};

/** ~`tokens` tokens of shared instructions (the sandbox counts 4 characters per token). */
function instructions(tokens: number): string {
	const line =
		'Classify the support ticket by category and priority; billing covers invoices, refunds and payments. ';
	return line.repeat(Math.ceil((tokens * 4) / line.length)).slice(0, tokens * 4);
}

function shortTickets(n: number): INodeExecutionData[] {
	return Array.from({ length: n }, (_, i) => ({
		json: {
			id: `T${String(i).padStart(6, '0')}`,
			text: `Ticket ${i}: invoice ${i * 7} charged twice`,
		},
	}));
}

/** Start → LLM Batch Call → Batch Report (this node run's items). */
function callAndReport(options: IDataObject): WorkflowJson {
	const at = (x: number) => [x, 0] as [number, number];
	const to = (node: string) => [[{ node, type: 'main' as const, index: 0 }]];
	return {
		nodes: [
			{
				id: 's',
				name: 'Start',
				type: 'n8n-nodes-base.manualTrigger',
				typeVersion: 1,
				position: at(0),
				parameters: {},
			},
			{
				id: 'c',
				name: 'LLM Batch Call',
				type: 'n8n-nodes-llm-batch.llmBatchCall',
				typeVersion: 1,
				position: at(200),
				parameters: {
					provider: 'anthropic',
					model: GROUPED_MODEL,
					systemPrompt: instructions(3000),
					prompt: '={{ $json.text }}',
					recordId: '={{ $json.id }}',
					outputFormat: 'json',
					jsonSchema: JSON.stringify(SCHEMA),
					concurrency: 16,
					requestsPerMinute: 100_000_000,
					tokensPerMinute: 1e12,
					options: { progressIntervalSeconds: 0, maxTokens: 200, ...options },
				},
				credentials: { llmBatchAnthropicApi: { id: '1', name: 'bench' } },
			},
			{
				id: 'r',
				name: 'Batch Report',
				type: 'n8n-nodes-llm-batch.batchReport',
				typeVersion: 1,
				position: at(400),
				parameters: { emitWhen: 'eachRun' },
			},
		],
		connections: {
			Start: { main: to('LLM Batch Call') },
			'LLM Batch Call': { main: to('Batch Report') },
		},
	};
}

async function reportAndBill(sandbox: Sandbox, wf: WorkflowJson, input: INodeExecutionData[]) {
	resetSharedFlow();
	sandbox.reset();
	const r = await runWorkflow(wf, {
		nodeTypes: packageNodeTypes(),
		credentials: { llmBatchAnthropicApi: { apiKey: 'bench', baseUrl: sandbox.url } },
		input,
	});
	if (r.run.status !== 'success') throw new Error(`run ${r.run.status}`);
	const [report] = r.items('Batch Report', 0);
	return { report: report.json as unknown as Report, billed: billedUsd(sandbox) };
}

async function groupedCachedRows(items: number): Promise<CostLeverRow[]> {
	const sandbox = await startSandbox({ seed: 7 });
	try {
		const input = shortTickets(items);
		const levers = await reportAndBill(
			sandbox,
			callAndReport({ recordsPerRequest: 10, promptCaching: '5m' }),
			input,
		);
		const naive = await reportAndBill(sandbox, callAndReport({ promptCaching: 'off' }), input);
		const t = levers.report.costTable as CostTable;
		const total = sum(levers.billed);
		const at = (label: string) => `report = billed: grouped 10 + cached, ${label}`;
		return [
			row(at('total'), 'anthropic', items, t.correct, t.costUsd, total),
			row(
				at('per correct answer'),
				'anthropic',
				items,
				t.correct,
				t.costPerCorrectUsd ?? 0,
				total / t.correct,
			),
			row(
				at('naive (estimate vs its run)'),
				'anthropic',
				items,
				t.correct,
				t.naive?.costUsd ?? 0,
				sum(naive.billed),
			),
		];
	} finally {
		await sandbox.close();
	}
}

export async function run(
	items = process.argv.includes('--quick') ? 200 : 2000,
): Promise<CostLeverRow[]> {
	return [...(await cascadeRows(items)), ...(await groupedCachedRows(items))];
}

if (require.main === module) {
	run()
		.then((rows) => console.table(rows))
		.catch((e) => {
			console.error(e);
			process.exitCode = 1;
		});
}
