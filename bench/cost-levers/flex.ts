/**
 * Flex processing against the naive realtime loop: example 01's tickets (2,000, a 500-token
 * shared instruction, the example's schema) through LLM Batch Call with Service Tier Flex, and
 * the same tickets one realtime call each at the standard tier, no cache, no grouping — both
 * in one process against the in-process sandbox, through a real n8n WorkflowExecute. The
 * sandbox plays flex as OpenAI describes it: billed at the batch price (half), 3x the latency,
 * and 20 % of flex requests answered 429 `resource_unavailable` (not billed).
 *
 * Cost is what the sandbox billed (its usage by the tier that served it: `byTier`) priced by
 * core/cost.ts at each tier's price; the node's own cost fields must add up to the same.
 *
 * Alone: `npm run build && node build/bench/cost-levers/flex.js [--quick]` (--quick: 200 tickets).
 */
import type { INodeExecutionData } from 'n8n-workflow';

import { resetSharedFlow } from '../../core/call/limiter/in-process';
import { costUsd } from '../../core/cost';
import { expectedReply, startSandbox, type Sandbox } from '../../sandbox/server';
import type { SandboxStats } from '../../sandbox/stats';
import { runWorkflow } from '../../scripts/lib/harness';
import { llmWorkflow, nodeTypes } from '../common';
import { instructions } from '../tickets';
import type { CostLeverRow } from './row';

/** A model OpenAI offers at flex (the example's gpt-4o-mini is not). */
const MODEL = 'gpt-5-mini';

/** Example 01's schema: category, priority and a confidence. */
const SCHEMA = {
	type: 'object',
	additionalProperties: false,
	required: ['category', 'priority', 'confidence'],
	properties: {
		category: { type: 'string', enum: ['billing', 'bug', 'feature', 'account', 'other'] },
		priority: { type: 'string', enum: ['low', 'normal', 'high', 'urgent'] },
		confidence: { type: 'number', minimum: 0, maximum: 1 },
	},
};

const TRIAGE_LINE =
	'You triage customer support tickets. Classify the ticket and rate your confidence between 0 and 1. ';

const SUBJECTS = ['Invoice shows the wrong amount', 'App crashes on login', 'Please add dark mode'];

function tickets(n: number): INodeExecutionData[] {
	return Array.from({ length: n }, (_, i) => ({
		json: {
			ticketId: `T${String(i + 1).padStart(5, '0')}`,
			text: `Subject: ${SUBJECTS[i % SUBJECTS.length]}\n\nTicket ${i + 1}: order ${4400 + i} needs a look.`,
		},
	}));
}

interface Run {
	success: INodeExecutionData[];
	failed: INodeExecutionData[];
	correct: number;
	misattributed: number;
	/** Sum of the items' `llm.costUsd`: what the node says it spent. */
	nodeUsd: number;
	/** The sandbox's billed usage at each tier's price. */
	billedUsd: number;
	stats: SandboxStats;
	hint: string;
}

/** The sandbox's bill: each tier's tokens at that tier's price (core/cost.ts). */
function billed(stats: SandboxStats): number {
	let usd = 0;
	for (const [tier, u] of Object.entries(stats.byTier)) {
		const cost = costUsd(MODEL, { ...u, ...(tier === 'default' ? {} : { serviceTier: tier }) });
		if (cost === undefined) throw new Error(`no ${tier} price for ${MODEL}`);
		usd += cost;
	}
	return usd;
}

async function runOnce(
	sandbox: Sandbox,
	input: INodeExecutionData[],
	options: Record<string, unknown>,
	concurrency = 16,
): Promise<Run> {
	resetSharedFlow();
	sandbox.reset();
	const wf = llmWorkflow({
		model: MODEL,
		systemPrompt: instructions(500, TRIAGE_LINE),
		recordId: '={{ $json.ticketId }}',
		outputFormat: 'json',
		jsonSchema: JSON.stringify(SCHEMA),
		concurrency,
		requestsPerMinute: 1_000_000,
		tokensPerMinute: 1_000_000_000,
		options: { progressIntervalSeconds: 0, maxTokens: 200, ...options },
	});
	const res = await runWorkflow(wf, {
		nodeTypes: nodeTypes(),
		input,
		credentials: { llmBatchOpenAiApi: { apiKey: 'bench', baseUrl: `${sandbox.url}/v1` } },
	});
	const success = res.items('LLM Batch Call', 0);
	const failed = res.items('LLM Batch Call', 1);
	let correct = 0;
	let misattributed = 0;
	let nodeUsd = 0;
	for (const s of success) {
		const i = (s.pairedItem as { item: number }).item;
		const llm = s.json.llm as { recordId: string; output: unknown; costUsd?: number };
		nodeUsd += llm.costUsd ?? NaN;
		const want = expectedReply({ prompt: input[i].json.text as string, schema: SCHEMA }).output;
		const own = llm.recordId === input[i].json.ticketId;
		if (own && JSON.stringify(llm.output) === JSON.stringify(want)) correct++;
		else misattributed++;
	}
	const stats = sandbox.stats();
	const hints = res.hints['LLM Batch Call'] ?? [];
	const hint = hints.find((h) => /items succeeded/.test(h.message))?.message ?? '';
	return {
		success,
		failed,
		correct,
		misattributed,
		nodeUsd,
		billedUsd: billed(stats),
		stats,
		hint,
	};
}

const cents = (usd: number) => Math.round(usd * 100);
const usd = (x: number) => `$${x.toFixed(4)}`;

function row(
	scenario: string,
	n: number,
	run: Run,
	naive: Run,
	target: string,
	met: boolean,
	note: string,
): CostLeverRow {
	const ratio = run.billedUsd / run.correct / (naive.billedUsd / naive.correct);
	return {
		scenario,
		provider: 'openai',
		items: n,
		correct: run.correct,
		misattributed: run.misattributed,
		costUsd: run.billedUsd,
		baselineUsd: naive.billedUsd,
		ratio,
		target,
		met,
		note,
	};
}

export async function run(
	o: { quick?: boolean } = { quick: process.argv.includes('--quick') },
): Promise<CostLeverRow[]> {
	const n = o.quick ? 200 : 2000;
	const sandbox = await startSandbox({ seed: 24, latencyMs: { min: 2, max: 8 } });
	try {
		const input = tickets(n);
		const naive = await runOnce(sandbox, input, { promptCaching: 'off' });
		const flex = await runOnce(sandbox, input, { serviceTier: 'flex' });
		const unbilled = flex.stats.flexUnavailable;
		const flexFailures = flex.failed.length;
		const sameAsBill = cents(flex.nodeUsd) === cents(flex.billedUsd);
		const flexRatio = flex.billedUsd / flex.correct / (naive.billedUsd / naive.correct);
		const rows = [
			row(
				'example 01 tickets, LLM Batch Call Service Tier Flex vs naive realtime loop',
				n,
				flex,
				naive,
				'≤ 55 % of naive; every item answered; 0 failures for the unbilled 429s',
				flexRatio <= 0.55 &&
					flex.correct === n &&
					flex.misattributed === 0 &&
					flexFailures === 0 &&
					sameAsBill,
				`${unbilled} unbilled 429 resource_unavailable waited out, ${flexFailures} failed; node's cost ${usd(flex.nodeUsd)} = billed ${usd(flex.billedUsd)}${sameAsBill ? '' : ' (DIFFERS)'}; ${flex.hint.replace(/^.*?· (answers by tier)/, '$1')}`,
			),
		];
		// The same with a Flex Deadline reached mid-run (a tenth of the flex run's length, with
		// fewer requests in flight so it lasts): what is left goes out at default.
		const deadlineMinutes = o.quick ? 0.02 : 0.05;
		const late = await runOnce(
			sandbox,
			input,
			{ serviceTier: 'flex', flexDeadlineMinutes: deadlineMinutes },
			4,
		);
		const byTier = late.success.reduce<Record<string, number>>((acc, s) => {
			const tier = String((s.json.llm as { serviceTier?: string }).serviceTier);
			acc[tier] = (acc[tier] ?? 0) + 1;
			return acc;
		}, {});
		const lateSame = cents(late.nodeUsd) === cents(late.billedUsd);
		rows.push(
			row(
				`same, Flex Deadline ${deadlineMinutes * 60} s reached mid-run (concurrency 4)`,
				n,
				late,
				naive,
				'every item answered, each priced at the tier that answered it',
				late.correct === n && late.failed.length === 0 && lateSame && (byTier.default ?? 0) > 0,
				`answered at flex ${byTier.flex ?? 0}, at default after the deadline ${byTier.default ?? 0}; node's cost ${usd(late.nodeUsd)} = billed ${usd(late.billedUsd)}${lateSame ? '' : ' (DIFFERS)'}`,
			),
		);
		return rows;
	} finally {
		await sandbox.close();
	}
}

if (require.main === module) {
	run().then(
		(rows) => console.table(rows),
		(e: unknown) => {
			console.error(e);
			process.exitCode = 1;
		},
	);
}
