/**
 * `npm run bench:efficiency [-- --quick]`: fewer tokens per correct answer (issue 13), each
 * scenario run side by side with its baseline in the same process against the in-process
 * sandbox, through a real n8n WorkflowExecute. Prints one Markdown table (and writes
 * bench/EFFICIENCY.md on a full run). Tokens and cost come from the usage the sandbox
 * reported, priced by core/cost.ts; nothing here is timed.
 *
 * --quick   a quarter of the sizes (CI smoke run); the table is printed, not written.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

import type { ICredentialDataDecryptedObject, INodeExecutionData } from 'n8n-workflow';

import { resetSharedFlow } from '../core/call/controller';
import { expectedReply, startSandbox, type Sandbox } from '../sandbox/server';
import { runWorkflow } from '../scripts/lib/harness';
import { llmWorkflow, nodeTypes } from './common';

const quick = process.argv.includes('--quick');
const scale = (n: number) => (quick ? Math.max(40, Math.round(n / 4)) : n);

const SCHEMA = {
	type: 'object',
	properties: {
		category: { type: 'string', enum: ['billing', 'bug', 'feature', 'account', 'other'] },
		priority: { type: 'string', enum: ['low', 'normal', 'high'] },
		echo: { type: 'string' },
	},
	required: ['category', 'priority', 'echo'],
};

/** ~`tokens` tokens of instructions (the sandbox counts 4 characters per token). */
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

interface RunOutcome {
	success: INodeExecutionData[];
	failed: INodeExecutionData[];
	inputTokens: number;
	outputTokens: number;
	requests: number;
	costUsd: number;
	misattributed: number;
	byModel: Record<string, number>;
	cacheRead: number;
}

async function runOnce(
	sandbox: Sandbox,
	input: INodeExecutionData[],
	params: Record<string, unknown>,
	options: Record<string, unknown>,
	credentials: Record<string, ICredentialDataDecryptedObject>,
	nodeCredentials?: Record<string, { id: string; name: string }>,
): Promise<RunOutcome> {
	resetSharedFlow();
	sandbox.reset();
	const wf = llmWorkflow({
		outputFormat: 'json',
		jsonSchema: JSON.stringify(SCHEMA),
		concurrency: 16,
		requestsPerMinute: 1_000_000,
		tokensPerMinute: 1_000_000_000,
		options: { progressIntervalSeconds: 0, maxTokens: 200, ...options },
		...params,
	});
	if (nodeCredentials) wf.nodes[1].credentials = nodeCredentials;
	const res = await runWorkflow(wf, { nodeTypes: nodeTypes(), input, credentials });
	const success = res.items('LLM Batch Call', 0);
	const failed = res.items('LLM Batch Call', 1);
	let costUsd = 0;
	let misattributed = 0;
	const byModel: Record<string, number> = {};
	for (const s of success) {
		const i = (s.pairedItem as { item: number }).item;
		const llm = s.json.llm as {
			recordId: string;
			output: unknown;
			costUsd?: number;
			model: string;
		};
		costUsd += llm.costUsd ?? 0;
		byModel[llm.model] = (byModel[llm.model] ?? 0) + 1;
		const want = expectedReply({ prompt: input[i].json.text as string, schema: SCHEMA }).output;
		if (llm.recordId !== input[i].json.id || JSON.stringify(llm.output) !== JSON.stringify(want))
			misattributed++;
	}
	const st = sandbox.stats();
	return {
		success,
		failed,
		inputTokens: st.inputTokens,
		outputTokens: st.outputTokens,
		requests: st.accepted,
		costUsd,
		misattributed,
		byModel,
		cacheRead: st.cacheReadTokens,
	};
}

const int = (n: number) => Math.round(n).toLocaleString('en-US');
const pct = (x: number) => `${(x * 100).toFixed(1)} %`;
const usd = (x: number) => `$${x.toFixed(4)}`;
const verdict = (ok: boolean) => (ok ? 'pass' : '**miss**');

async function main(): Promise<void> {
	const sandbox = await startSandbox({ seed: 13 });
	const openAi = { llmBatchOpenAiApi: { apiKey: 'bench', baseUrl: `${sandbox.url}/v1` } };
	const rows: string[][] = [];
	try {
		// (1) records per request 10 vs 1, 500-token shared instruction (caching off in both:
		// this measures grouping alone).
		const n1 = scale(2000);
		const tickets = shortTickets(n1);
		const common = { systemPrompt: instructions(500) };
		const single = await runOnce(sandbox, tickets, common, { promptCaching: 'off' }, openAi);
		const grouped = await runOnce(
			sandbox,
			tickets,
			common,
			{ promptCaching: 'off', recordsPerRequest: 10 },
			openAi,
		);
		const saved = 1 - grouped.inputTokens / single.inputTokens;
		const same = grouped.success.every((s, k) => {
			const a = single.success[k]?.json.llm as { output: unknown } | undefined;
			return (
				JSON.stringify((s.json.llm as { output: unknown }).output) === JSON.stringify(a?.output)
			);
		});
		rows.push([
			`${int(n1)} short tickets, 500-token shared instruction: Records per Request 10 vs 1`,
			`${int(grouped.inputTokens)} input tokens in ${int(grouped.requests)} requests; ${grouped.misattributed} misattributed; answers ${same && grouped.success.length === n1 ? 'identical' : 'DIFFER'}`,
			`${int(single.inputTokens)} input tokens in ${int(single.requests)} requests`,
			`≥ 60 % fewer input tokens: ${pct(saved)}`,
			verdict(saved >= 0.6 && grouped.misattributed === 0 && same && grouped.success.length === n1),
		]);

		// (2) the same with 5 % of grouped answers dropping / duplicating / swapping a record.
		sandbox.configure({ groupFaults: { drop: 0.05 / 3, duplicate: 0.05 / 3, swap: 0.05 / 3 } });
		const faulty = await runOnce(
			sandbox,
			tickets,
			common,
			{ promptCaching: 'off', recordsPerRequest: 10 },
			openAi,
		);
		const gf = sandbox.stats().groupFaults;
		sandbox.configure({ groupFaults: {} });
		const answered = faulty.success.length;
		rows.push([
			`same, sandbox drops / duplicates / swaps a record in 5 % of grouped answers (${gf.drop} / ${gf.duplicate} / ${gf.swap})`,
			`${answered} of ${int(n1)} answered, ${faulty.misattributed} misattributed, ${int(faulty.inputTokens)} input tokens in ${int(faulty.requests)} requests`,
			`(no faults) ${int(grouped.inputTokens)} input tokens`,
			'0 misattributed; every record answered',
			verdict(faulty.misattributed === 0 && answered === n1),
		]);

		// (3) Anthropic, 3,000-token shared prefix: prompt caching on vs off.
		const n3 = scale(1000);
		const anthropic = { llmBatchAnthropicApi: { apiKey: 'bench', baseUrl: sandbox.url } };
		const anthropicNode = { llmBatchAnthropicApi: { id: '1', name: 'bench' } };
		const aParams = {
			provider: 'anthropic',
			model: 'claude-sonnet-4',
			systemPrompt: instructions(3000),
		};
		const cached = await runOnce(sandbox, shortTickets(n3), aParams, {}, anthropic, anthropicNode);
		const uncached = await runOnce(
			sandbox,
			shortTickets(n3),
			aParams,
			{ promptCaching: 'off' },
			anthropic,
			anthropicNode,
		);
		const ratio = cached.costUsd / uncached.costUsd;
		rows.push([
			`Anthropic (claude-sonnet-4), 3,000-token shared prefix, ${int(n3)} items: Prompt Caching on vs off`,
			`${usd(cached.costUsd)} (${int(cached.cacheRead)} tokens read from cache)`,
			usd(uncached.costUsd),
			`cost ≤ 40 % of uncached: ${pct(ratio)}`,
			verdict(ratio <= 0.4 && cached.success.length === n3),
		]);

		// (4) 10 % of answers fail the schema: re-ask vs a fresh retry.
		const n4 = scale(1000);
		const t4 = shortTickets(n4);
		const sys4 = { systemPrompt: 'Classify the ticket.' };
		sandbox.configure({ faults: { schemaViolation: 0.1 } });
		const reask = await runOnce(sandbox, t4, sys4, { maxReasks: 1, promptCaching: 'off' }, openAi);
		const first = await runOnce(sandbox, t4, sys4, { maxReasks: 0, promptCaching: 'off' }, openAi);
		// The fresh retry: the failed items sent again as new calls (as a Route Failures loop would).
		const retryInput = first.failed.map((f) => ({
			json: { id: f.json.id, text: f.json.text },
		}));
		const firstSeen = { input: first.inputTokens, output: first.outputTokens };
		// Keep the sandbox's per-prompt counters: a retry of the same prompt rolls again.
		resetSharedFlow();
		const wf = llmWorkflow({
			outputFormat: 'json',
			jsonSchema: JSON.stringify(SCHEMA),
			concurrency: 16,
			requestsPerMinute: 1_000_000,
			tokensPerMinute: 1_000_000_000,
			options: { progressIntervalSeconds: 0, maxTokens: 200, maxReasks: 0, promptCaching: 'off' },
			...sys4,
		});
		const before = sandbox.stats();
		const retried = await runWorkflow(wf, {
			nodeTypes: nodeTypes(),
			input: retryInput,
			credentials: openAi,
		});
		const after = sandbox.stats();
		sandbox.configure({ faults: {} });
		const freshValid = first.success.length + retried.items('LLM Batch Call', 0).length;
		const freshTokens =
			firstSeen.input +
			firstSeen.output +
			(after.inputTokens - before.inputTokens) +
			(after.outputTokens - before.outputTokens);
		const reaskTokens = reask.inputTokens + reask.outputTokens;
		const reaskValid = reask.success.length;
		// Tokens spent on fixing the failed answers only (beyond the first answer of every item).
		const baseTokens = (first.inputTokens + first.outputTokens) * 1;
		rows.push([
			`10 % of answers fail the schema (${int(n4)} items): Max Re-Asks 1 vs a fresh retry of the failed items`,
			`${pct(reaskValid / n4)} valid; ${int(reaskTokens)} tokens (${int(reaskTokens - baseTokens)} for the fixes)`,
			`${pct(freshValid / n4)} valid; ${int(freshTokens)} tokens (${int(freshTokens - baseTokens)} for the fixes)`,
			`≥ 99 % valid after one re-ask; fewer tokens than fresh: ${reaskTokens < freshTokens ? 'yes' : 'no'}`,
			verdict(reaskValid / n4 >= 0.99 && reaskTokens < freshTokens),
		]);

		// (5) primary overloaded (529 on 50 % of requests) with a fallback model.
		const n5 = scale(1000);
		sandbox.configure({ modelFaults: { 'claude-sonnet-4': { status529: 0.5 } } });
		const fb = await runOnce(
			sandbox,
			shortTickets(n5),
			{
				provider: 'anthropic',
				model: 'claude-sonnet-4',
				systemPrompt: 'Classify the ticket.',
				fallbackProvider: 'openai',
				fallbackModels: 'gpt-4o-mini',
			},
			{},
			{ ...anthropic, llmBatchFallbackApi: { apiKey: 'bench', baseUrl: `${sandbox.url}/v1` } },
			{ ...anthropicNode, llmBatchFallbackApi: { id: '2', name: 'bench' } },
		);
		sandbox.configure({ modelFaults: {} });
		const noFallback = await (async () => {
			sandbox.configure({ modelFaults: { 'claude-sonnet-4': { status529: 0.5 } } });
			const r = await runOnce(
				sandbox,
				shortTickets(n5),
				{ provider: 'anthropic', model: 'claude-sonnet-4', systemPrompt: 'Classify the ticket.' },
				{ maxAttempts: 2, onCircuitOpen: 'stop' },
				anthropic,
				anthropicNode,
			);
			sandbox.configure({ modelFaults: {} });
			return r;
		})();
		rows.push([
			`primary (claude-sonnet-4) answers 529 on 50 % of requests, fallback gpt-4o-mini (${int(n5)} items)`,
			`${fb.success.length} of ${int(n5)} answered; per model: ${Object.entries(fb.byModel)
				.map(([m, k]) => `${m} ${k}`)
				.join(', ')}; ${fb.misattributed} misattributed`,
			`(no fallback, 2 attempts, breaker stops) ${noFallback.success.length} of ${int(n5)} answered`,
			'every item answered; answers per model reported',
			verdict(fb.success.length === n5 && fb.misattributed === 0),
		]);
	} finally {
		await sandbox.close();
	}

	const table = [
		'| scenario | with the option | baseline (same run) | target: measured | verdict |',
		'|---|---|---|---|---|',
		...rows.map((r) => `| ${r.join(' | ')} |`),
	].join('\n');
	console.log(table);
	if (!quick) {
		writeFileSync(
			join(__dirname, '..', '..', 'bench', 'EFFICIENCY.md'),
			`# Fewer tokens per correct answer (bench/efficiency.ts)\n\n${table}\n`,
		);
	}
}

main().catch((e: unknown) => {
	console.error(e);
	process.exitCode = 1;
});
