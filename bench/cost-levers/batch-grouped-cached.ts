/**
 * Cost levers composed on the half-price path: example 01's nightly tickets (2,000 short
 * tickets, 500-token shared instructions) through LLM Batch Job with Records per Request 10
 * and prompt caching (Submit, then Collect, then a lone re-send round for any record its
 * grouped answer did not attribute), against the naive realtime loop (LLM Batch Call, one
 * request per ticket, no cache, no grouping), both providers, in real n8n WorkflowExecute runs
 * against the in-process sandbox. Cost from the usage the sandbox billed (realtime and batch
 * endpoints), priced by core/cost.ts: list price for the loop, cache prices then the batch
 * discount for the job; checked against the items' own `costUsd`.
 *
 * Alone: `npm run build && node build/bench/cost-levers/batch-grouped-cached.js [--quick]`.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import type { IDataObject, INode, INodeExecutionData } from 'n8n-workflow';

import { resetSharedFlow } from '../../core/call/limiter/in-process';
import { costUsd } from '../../core/cost';
import { expectedReply, startSandbox, type Sandbox } from '../../sandbox/server';
import { runWorkflow, type WorkflowJson } from '../../scripts/lib/harness';
import { packageNodeTypes } from '../../scripts/lib/node-types';
import { instructions, shortTickets, TICKET_SCHEMA } from '../tickets';
import type { CostLeverRow } from './row';

const MODEL = { openai: 'gpt-4o-mini', anthropic: 'claude-3-5-haiku-latest' } as const;
type P = keyof typeof MODEL;
const RECORDS_PER_REQUEST = 10;
const TARGET = 0.25;

const start: INode = {
	id: 's',
	name: 'Start',
	type: 'n8n-nodes-base.manualTrigger',
	typeVersion: 1,
	position: [0, 0],
	parameters: {},
};

const credentials = (sandbox: Sandbox) => ({
	llmBatchOpenAiApi: { apiKey: 'bench', baseUrl: `${sandbox.url}/v1` },
	llmBatchAnthropicApi: { apiKey: 'bench', baseUrl: sandbox.url },
});

function node(provider: P, name: string, type: string, parameters: IDataObject): WorkflowJson {
	const n: INode = {
		id: 'n',
		name,
		type: `n8n-nodes-llm-batch.${type}`,
		typeVersion: 1,
		position: [200, 0],
		parameters: { provider, ...parameters },
		credentials: {
			[provider === 'openai' ? 'llmBatchOpenAiApi' : 'llmBatchAnthropicApi']: {
				id: '1',
				name: 'bench',
			},
		},
	};
	return {
		nodes: [start, n],
		connections: { Start: { main: [[{ node: name, type: 'main', index: 0 }]] } },
	};
}

const prompt = (provider: P, system: string) => ({
	model: MODEL[provider],
	systemPrompt: system,
	prompt: '={{ $json.text }}',
	recordId: '={{ $json.id }}',
	outputFormat: 'json',
	jsonSchema: JSON.stringify(TICKET_SCHEMA),
});

async function execute(wf: WorkflowJson, sandbox: Sandbox, input?: INodeExecutionData[]) {
	const r = await runWorkflow(wf, {
		nodeTypes: packageNodeTypes(),
		credentials: credentials(sandbox),
		...(input ? { input } : {}),
	});
	if (r.run.status !== 'success')
		throw new Error(`workflow failed: ${r.run.data.resultData.error?.message ?? r.run.status}`);
	return r;
}

interface Usage {
	inputTokens: number;
	outputTokens: number;
	cachedInputTokens: number;
	cacheWriteTokens: number;
}

/** Each record's answer (by record ID) and the sum of the items' own costUsd. */
function answers(items: INodeExecutionData[]): { byId: Map<string, unknown>; itemsUsd: number } {
	const byId = new Map<string, unknown>();
	let itemsUsd = 0;
	for (const it of items) {
		const llm = it.json.llm as { output: unknown; costUsd?: number };
		byId.set(String(it.json.id), llm.output);
		itemsUsd += llm.costUsd ?? 0;
	}
	return { byId, itemsUsd };
}

/** The naive loop: one realtime request per ticket, no cache, no grouping. */
async function naive(sandbox: Sandbox, provider: P, input: INodeExecutionData[], system: string) {
	resetSharedFlow();
	sandbox.reset();
	const r = await execute(
		node(provider, 'LLM Batch Call', 'llmBatchCall', {
			...prompt(provider, system),
			concurrency: 32,
			requestsPerMinute: 100_000_000,
			tokensPerMinute: 1e12,
			options: { progressIntervalSeconds: 0, maxTokens: 200, promptCaching: 'off' },
		}),
		sandbox,
		input,
	);
	const st = sandbox.stats();
	const usage: Usage = {
		inputTokens: st.inputTokens,
		outputTokens: st.outputTokens,
		cachedInputTokens: st.cacheReadTokens,
		cacheWriteTokens: st.cacheWriteTokens,
	};
	return {
		...answers(r.items('LLM Batch Call', 0)),
		failed: r.items('LLM Batch Call', 1).length,
		billedUsd: costUsd(MODEL[provider], usage)!,
		usage,
	};
}

/** LLM Batch Job: Submit (grouped, cached), Collect; records failed by their grouped answer go alone in a second round. */
async function grouped(
	sandbox: Sandbox,
	provider: P,
	input: INodeExecutionData[],
	system: string,
	clock: { advance(ms: number): void },
	groupFaults: { drop?: number; swap?: number },
) {
	sandbox.batch.reset();
	sandbox.batch.configure({ processingMs: 3_600_000, groupFaults });
	const ledger = join(mkdtempSync(join(tmpdir(), 'bench-cost-levers-')), 'ledger.sqlite');
	const job = { jobName: 'tickets', ledgerStore: 'sqlite', ledgerSqlitePath: ledger };
	const submit = node(provider, 'LLM Batch Job', 'llmBatchJob', {
		...job,
		operation: 'submit',
		...prompt(provider, system),
		options: { maxTokens: 200, recordsPerRequest: RECORDS_PER_REQUEST, promptCaching: '5m' },
	});
	const collect = node(provider, 'LLM Batch Job', 'llmBatchJob', { ...job, operation: 'collect' });
	const success: INodeExecutionData[] = [];
	let rounds = 0;
	let failed: INodeExecutionData[] = [];
	// What the failed items of every round carried (a record its grouped answer failed leaves
	// with its share; its lone re-send's answer carries only its own cost).
	let failedUsd = 0;
	const costOfError = (f: INodeExecutionData) =>
		(f.json.error as { costUsd?: number }).costUsd ?? 0;
	for (; rounds < 3; rounds++) {
		await execute(submit, sandbox, input);
		clock.advance(3_600_000);
		const c = await execute(collect, sandbox);
		success.push(...c.items('LLM Batch Job', 0));
		failed = c.items('LLM Batch Job', 1);
		failedUsd += failed.reduce((a, f) => a + costOfError(f), 0);
		if (failed.length === 0) break;
	}
	const b = sandbox.batch.stats().billed;
	const usage: Usage = {
		inputTokens: b.inputTokens,
		outputTokens: b.outputTokens,
		cachedInputTokens: b.cacheReadTokens,
		cacheWriteTokens: b.cacheWriteTokens,
	};
	const got = answers(success);
	return {
		...got,
		itemsUsd: got.itemsUsd + failedUsd,
		failed: failed.length,
		requests: sandbox.batch.stats().requestsReceived,
		rounds: rounds + 1,
		billedUsd: costUsd(MODEL[provider], usage, { batch: true })!,
		usage,
	};
}

const pct = (x: number) => `${(x * 100).toFixed(1)} %`;
const int = (n: number) => Math.round(n).toLocaleString('en-US');

async function measure(
	sandbox: Sandbox,
	provider: P,
	n: number,
	instructionTokens: number,
	clock: { advance(ms: number): void },
	spoiled = 0,
): Promise<CostLeverRow> {
	const input = shortTickets(n);
	const system = instructions(instructionTokens);
	const base = await naive(sandbox, provider, input, system);
	const faults = spoiled > 0 ? { drop: spoiled / 2, swap: spoiled / 2 } : {};
	const lever = await grouped(sandbox, provider, input, system, clock, faults);
	let correct = 0;
	let misattributed = 0;
	let sameAsNaive = 0;
	for (const it of input) {
		const id = String(it.json.id);
		const want = JSON.stringify(
			expectedReply({ prompt: String(it.json.text), schema: TICKET_SCHEMA }).output,
		);
		const got = lever.byId.get(id);
		if (got === undefined) continue;
		if (JSON.stringify(got) === want) correct++;
		else misattributed++;
		if (JSON.stringify(got) === JSON.stringify(base.byId.get(id))) sameAsNaive++;
	}
	const baseCorrect = input.filter(
		(it) =>
			JSON.stringify(base.byId.get(String(it.json.id))) ===
			JSON.stringify(expectedReply({ prompt: String(it.json.text), schema: TICKET_SCHEMA }).output),
	).length;
	const ratio =
		lever.billedUsd / Math.max(1, correct) / (base.billedUsd / Math.max(1, baseCorrect));
	const meterOff = Math.abs(lever.itemsUsd - lever.billedUsd) > 1e-6;
	return {
		scenario: `LLM Batch Job, Records per Request ${RECORDS_PER_REQUEST} + prompt caching, ${int(n)} tickets, ${int(instructionTokens)}-token instructions${spoiled > 0 ? `, ${spoiled * 100} % of grouped answers drop or swap a record` : ''}, vs naive realtime loop`,
		provider,
		items: n,
		correct,
		misattributed,
		costUsd: lever.billedUsd,
		baselineUsd: base.billedUsd,
		ratio,
		target: `≤ ${TARGET * 100} % of naive`,
		met: ratio <= TARGET && misattributed === 0 && sameAsNaive === n && !meterOff,
		note: [
			`${int(lever.requests)} batch requests in ${lever.rounds} round(s) vs ${int(n)} realtime`,
			`input tokens ${int(lever.usage.inputTokens)} vs ${int(base.usage.inputTokens)}`,
			`cache read ${int(lever.usage.cachedInputTokens)}, written ${int(lever.usage.cacheWriteTokens)}`,
			`same answer as naive ${int(sameAsNaive)}/${int(n)}`,
			`items' costUsd ${lever.itemsUsd.toFixed(6)} vs billed ${lever.billedUsd.toFixed(6)}${meterOff ? ' (MISMATCH)' : ''}`,
			`naive failed ${base.failed}, job failed after re-sends ${lever.failed}`,
		].join('; '),
	};
}

export async function run(o: { quick?: boolean } = {}): Promise<CostLeverRow[]> {
	let t = Date.now();
	const clock = { advance: (ms: number) => void (t += ms) };
	const sandbox = await startSandbox({ now: () => t });
	try {
		const n = o.quick ? 500 : 2000;
		const rows: CostLeverRow[] = [];
		for (const provider of ['openai', 'anthropic'] as const) {
			// Example 01's run: 500-token instructions are under every model's cache minimum
			// (1,024-2,048 tokens), so caching adds nothing there; the 3,000-token row shows it composing.
			rows.push(await measure(sandbox, provider, n, 500, clock));
			rows.push(await measure(sandbox, provider, n, 500, clock, 0.1));
			rows.push(await measure(sandbox, provider, n, 3000, clock));
		}
		return rows;
	} finally {
		await sandbox.close();
	}
}

/** The rows as a Markdown table (the standalone entry prints it). */
export function table(rows: readonly CostLeverRow[]): string {
	return [
		'| scenario | provider | items | correct | misattributed | cost | naive | per correct answer | target | met | note |',
		'|---|---|---|---|---|---|---|---|---|---|---|',
		...rows.map(
			(r) =>
				`| ${r.scenario} | ${r.provider} | ${int(r.items)} | ${int(r.correct)} | ${r.misattributed} | $${r.costUsd.toFixed(4)} | $${r.baselineUsd.toFixed(4)} | ${pct(r.ratio)} | ${r.target} | ${r.met ? 'pass' : '**miss**'} | ${r.note ?? ''} |`,
		),
	].join('\n');
}

if (require.main === module) {
	run({ quick: process.argv.includes('--quick') }).then(
		(rows) => console.log(table(rows)),
		(e: unknown) => {
			console.error(e);
			process.exitCode = 1;
		},
	);
}
