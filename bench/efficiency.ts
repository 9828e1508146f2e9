/**
 * `npm run bench:efficiency [-- --quick]`: fewer tokens per correct answer, each
 * scenario run side by side with its baseline in the same process against the in-process
 * sandbox, through a real n8n WorkflowExecute. Prints one Markdown table (and writes
 * bench/EFFICIENCY.md on a full run). Tokens and cost come from the usage the sandbox
 * reported, priced by core/cost.ts; nothing here is timed.
 *
 * --quick   a quarter of the sizes (CI smoke run); the table is printed, not written.
 * --only=S  one scenario: grouping (rows 1-2), caching, reask, fallback; printed, not written.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

import type { ICredentialDataDecryptedObject, INodeExecutionData } from 'n8n-workflow';

import { resetSharedFlow } from '../core/call/limiter/in-process';
import { expectedReply, startSandbox, type Sandbox } from '../sandbox/server';
import { runWorkflow } from '../scripts/lib/harness';
import { llmWorkflow, nodeTypes } from './common';
import { instructions, shortTickets, TICKET_SCHEMA } from './tickets';

const quick = process.argv.includes('--quick');
/** `--only=grouping|caching|reask|fallback`: one scenario (the table is printed, not written). */
const only = process.argv.find((a) => a.startsWith('--only='))?.slice('--only='.length);
const want = (scenario: string) => only === undefined || only === scenario;
const scale = (n: number) => (quick ? Math.max(40, Math.round(n / 4)) : n);

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
		jsonSchema: JSON.stringify(TICKET_SCHEMA),
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
		const want = expectedReply({
			prompt: input[i].json.text as string,
			schema: TICKET_SCHEMA,
		}).output;
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

/**
 * 10 % of first answers break the schema. With the option: Max Re-Asks 1 (the bad answer and
 * the errors go back as one follow-up turn). Baseline: Max Re-Asks 0, then the failed items
 * sent again as new calls (as a Route Failures loop would) — one extra call per failed item
 * in both. Tokens are what the sandbox billed; "per correct answer" divides all tokens of the
 * run by the valid answers it ended with; "per answer fixed" divides the tokens beyond the
 * first answer of every item by the answers those extra calls made valid — the verdict
 * compares this one: it is what the re-ask changes (the first answers are the same in both).
 */
/** The sandbox's stated model of temperature 0 (sandbox/server.ts `sameAnswerAtTemperature0`). */
const SAME_ANSWER_AT_T0 = 0.9;

/** Re-ask turns the items' answers took (`llm.reasks`, or the error's attempts' re-asks). */
function countReasks(items: INodeExecutionData[]): number {
	let n = 0;
	for (const it of items) n += (it.json.llm as { reasks?: number } | undefined)?.reasks ?? 0;
	return n;
}

async function reaskVsFresh(
	sandbox: Sandbox,
	openAi: Record<string, ICredentialDataDecryptedObject>,
	temperature: number,
	systemPrompt: string,
): Promise<string[]> {
	const n = scale(1000);
	const items = shortTickets(n);
	const params = { systemPrompt };
	const options = { promptCaching: 'off', temperature };
	sandbox.configure({
		faults: { schemaViolation: 0.1 },
		sameAnswerAtTemperature0: SAME_ANSWER_AT_T0,
	});
	const reask = await runOnce(
		sandbox,
		items,
		params,
		{ ...options, maxReasks: 1, fixInvalidBy: 'reask' },
		openAi,
	);
	// The node's default (Fix Invalid Answers By: Cheapest): a re-ask or a fresh call per answer.
	const cheapest = await runOnce(sandbox, items, params, { ...options, maxReasks: 1 }, openAi);
	const cheapestFresh = sandbox.stats().accepted - n - countReasks(cheapest.success);
	const first = await runOnce(sandbox, items, params, { ...options, maxReasks: 0 }, openAi);
	const failedFirst = first.failed.length;
	// The fresh retry keeps the sandbox's per-prompt memory (no reset): at temperature 0 the
	// identical request mostly gets the identical answer again.
	resetSharedFlow();
	const wf = llmWorkflow({
		outputFormat: 'json',
		jsonSchema: JSON.stringify(TICKET_SCHEMA),
		concurrency: 16,
		requestsPerMinute: 1_000_000,
		tokensPerMinute: 1_000_000_000,
		options: { progressIntervalSeconds: 0, maxTokens: 200, maxReasks: 0, ...options },
		...params,
	});
	const before = sandbox.stats();
	const retried = await runWorkflow(wf, {
		nodeTypes: nodeTypes(),
		input: first.failed.map((f) => ({ json: { id: f.json.id, text: f.json.text } })),
		credentials: openAi,
	});
	const after = sandbox.stats();
	sandbox.configure({ faults: {} });
	const baseTokens = first.inputTokens + first.outputTokens;
	const freshFixed = retried.items('LLM Batch Call', 0).length;
	const freshValid = first.success.length + freshFixed;
	const freshFix =
		after.inputTokens - before.inputTokens + (after.outputTokens - before.outputTokens);
	const freshTokens = baseTokens + freshFix;
	const reaskTokens = reask.inputTokens + reask.outputTokens;
	const reaskValid = reask.success.length;
	// The re-ask run's first answers are the same rolls as the baseline's (same prompts, a
	// reset sandbox), so its tokens beyond the baseline's first answers are the fixes.
	const reaskFix = reaskTokens - baseTokens;
	const reaskFixed = reaskValid - first.success.length;
	const perCorrect = (tokens: number, valid: number) => (valid > 0 ? tokens / valid : Infinity);
	const reaskPer = perCorrect(reaskTokens, reaskValid);
	const freshPer = perCorrect(freshTokens, freshValid);
	const perFix = (tokens: number, fixed: number) => (fixed > 0 ? tokens / fixed : Infinity);
	const reaskPerFix = perFix(reaskFix, reaskFixed);
	const freshPerFix = perFix(freshFix, freshFixed);
	const cheapestTokens = cheapest.inputTokens + cheapest.outputTokens;
	const cheapestValid = cheapest.success.length;
	const cheapestFix = cheapestTokens - baseTokens;
	const cheapestFixed = cheapestValid - first.success.length;
	const cheapestPerFix = perFix(cheapestFix, cheapestFixed);
	const cheapestReasks = countReasks(cheapest.success) + countReasks(cheapest.failed);
	const fix = (tokens: number, fixed: number) =>
		`${int(tokens)} tokens for the fixes = ${perFix(tokens, fixed).toFixed(1)} per answer fixed`;
	const label =
		temperature === 0
			? `temperature 0 (an identical retry repeats the answer with p = ${SAME_ANSWER_AT_T0})`
			: "temperature 1 (the providers' default; every answer independent)";
	const prompt =
		systemPrompt.length > 100
			? `${int(systemPrompt.length / 4)}-token instruction`
			: 'one-line instruction';
	// The target: the default fixes ≥ 99 % and never pays more per answer fixed than a fresh
	// retry (within 3 %: the two draw different samples); a re-ask is cheaper where it can be.
	const reaskWins = reaskPerFix < freshPerFix;
	const defaultOk = cheapestValid / n >= 0.99 && cheapestPerFix <= freshPerFix * 1.03;
	return [
		`10 % of answers fail the schema (${int(n)} items, ${prompt}), ${label}: Max Re-Asks 1 vs a fresh retry of the ${failedFirst} failed items`,
		`Fix By Cheapest (default): ${pct(cheapestValid / n)} valid; ${fix(cheapestFix, cheapestFixed)} (${cheapestReasks} re-asks, ${Math.max(0, cheapestFresh)} fresh calls). Forced re-ask: ${pct(reaskValid / n)} valid; ${int(reaskTokens)} tokens = ${reaskPer.toFixed(2)} per correct answer; ${fix(reaskFix, reaskFixed)}`,
		`${pct(freshValid / n)} valid; ${int(freshTokens)} tokens = ${freshPer.toFixed(2)} per correct answer; ${fix(freshFix, freshFixed)}`,
		`≥ 99 % valid: ${pct(cheapestValid / n)}; default per answer fixed ≤ fresh retry: ${cheapestPerFix.toFixed(1)} vs ${freshPerFix.toFixed(1)}; re-ask fewer tokens than a fresh retry: ${reaskWins ? 'yes' : 'no (a re-ask resends the prompt plus the answer and the errors: with a one-line prompt and independent answers a fresh call is cheaper, and the default takes it)'}`,
		verdict(defaultOk && reaskValid / n >= 0.99),
	];
}

async function main(): Promise<void> {
	const sandbox = await startSandbox({ seed: 13 });
	const openAi = { llmBatchOpenAiApi: { apiKey: 'bench', baseUrl: `${sandbox.url}/v1` } };
	const anthropic = { llmBatchAnthropicApi: { apiKey: 'bench', baseUrl: sandbox.url } };
	const anthropicNode = { llmBatchAnthropicApi: { id: '1', name: 'bench' } };
	const rows: string[][] = [];
	try {
		if (want('grouping')) {
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
				verdict(
					saved >= 0.6 && grouped.misattributed === 0 && same && grouped.success.length === n1,
				),
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
		}

		// (3) Anthropic, 3,000-token shared prefix: prompt caching on vs off.
		if (want('caching')) {
			const n3 = scale(1000);
			const aParams = {
				provider: 'anthropic',
				model: 'claude-sonnet-4',
				systemPrompt: instructions(3000),
			};
			const cached = await runOnce(
				sandbox,
				shortTickets(n3),
				aParams,
				{},
				anthropic,
				anthropicNode,
			);
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
		}

		// (4) 10 % of answers fail the schema: re-ask vs a fresh retry, at temperature 0 (an
		// identical retry mostly repeats the failure: the sandbox's sameAnswerAtTemperature0)
		// and at temperature 1 (the providers' default: every answer rolls on its own).
		if (want('reask')) {
			// The short prompt is the re-ask's worst case (what it adds, the bad answer and the
			// errors, weighs most against a short prompt); the third row shows a 500-token one.
			for (const temperature of [0, 1])
				rows.push(await reaskVsFresh(sandbox, openAi, temperature, 'Classify the ticket.'));
			rows.push(await reaskVsFresh(sandbox, openAi, 1, instructions(500)));
		}

		// (5) primary overloaded (529 on 50 % of requests) with a fallback model.
		if (want('fallback')) {
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
		}
	} finally {
		await sandbox.close();
	}

	const table = [
		'| scenario | with the option | baseline (same run) | target: measured | verdict |',
		'|---|---|---|---|---|',
		...rows.map((r) => `| ${r.join(' | ')} |`),
	].join('\n');
	console.log(table);
	if (!quick && !only) {
		writeFileSync(
			join(__dirname, '..', '..', 'bench', 'EFFICIENCY.md'),
			`# Fewer tokens per correct answer (bench/efficiency.ts)\n\nWhat the rows mean: [docs/benchmarks.md](../docs/benchmarks.md#fewer-tokens-per-correct-answer).\n\n${table}\n`,
		);
	}
}

if (require.main === module) {
	main().catch((e: unknown) => {
		console.error(e);
		process.exitCode = 1;
	});
}
