/**
 * `node dist/bench/submit-large-child.js <provider> <ledgerPath> <sandboxUrl> <items> <chars>`
 * One LLM Batch Job Submit of `items` records of `chars` characters each, in this fresh
 * process, printing `RESULT {json}`: peak RSS, the longest event-loop stall, the bytes of the
 * uploaded JSONL (the request lines, as the provider gets them) and the ledger's files.
 */
import { statSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';

import type { INode, INodeExecutionData } from 'n8n-workflow';

import { openAiChatBody, anthropicMessageParams } from '../core/call/providers/bodies';
import { inputPolicy, isItemError } from '../core/call/input';
import { LlmBatchJob } from '../nodes/LlmBatchJob/LlmBatchJob.node';
import { PassThroughNode, runWorkflow } from '../scripts/lib/harness';
import { API_KEY } from './common';

export interface SubmitLargeResult {
	provider: 'openai' | 'anthropic';
	items: number;
	chars: number;
	batches: number;
	requests: number;
	maxRssBytes: number;
	/**
	 * The longest time the event loop did not turn while this process was busy (a gap whose
	 * CPU time is at least half its wall time). Gaps where the process barely ran were the
	 * machine's other work (a shared 2-core host), counted in `maxGapMs` only.
	 */
	maxStallMs: number;
	/** The longest gap between two turns, whatever its cause. */
	maxGapMs: number;
	/** monitorEventLoopDelay's maximum (it misses a block before its first tick). */
	histogramMaxMs: number;
	jsonlBytes: number;
	ledgerBytes: number;
	walBytes: number;
	durationMs: number;
}

const MODEL = { openai: 'gpt-4o-mini', anthropic: 'claude-3-5-haiku-latest' } as const;

/** A record's text: `chars` characters, different for every record. */
function text(i: number, chars: number): string {
	const head = `Record ${i}: `;
	const unit = `order ${i} shipped late, invoice ${i * 7} is wrong; `;
	return (head + unit.repeat(Math.ceil(chars / unit.length))).slice(0, chars);
}

function size(path: string): number {
	try {
		return statSync(path).size;
	} catch {
		return 0;
	}
}

async function main(): Promise<void> {
	const [p, ledgerPath, url, n, c] = process.argv.slice(2);
	const provider = p === 'anthropic' ? 'anthropic' : 'openai';
	const items = Number(n);
	const chars = Number(c);
	const input: INodeExecutionData[] = Array.from({ length: items }, (_, i) => ({
		json: { id: `R${String(i).padStart(6, '0')}`, text: text(i, chars) },
	}));
	const node: INode = {
		id: '2',
		name: 'LLM Batch Job',
		type: 'n8n-nodes-llm-batch.llmBatchJob',
		typeVersion: 1,
		position: [200, 0],
		parameters: {
			operation: 'submit',
			provider,
			jobName: 'large',
			ledgerStore: 'sqlite',
			ledgerSqlitePath: ledgerPath,
			model: MODEL[provider],
			prompt: '={{ $json.text }}',
			recordId: '={{ $json.id }}',
			outputFormat: 'text',
		},
		credentials: {
			[provider === 'openai' ? 'llmBatchOpenAiApi' : 'llmBatchAnthropicApi']: {
				id: '1',
				name: 'bench',
			},
		},
	};
	const start: INode = {
		id: '1',
		name: 'Start',
		type: 'n8n-nodes-base.manualTrigger',
		typeVersion: 1,
		position: [0, 0],
		parameters: {},
	};
	const nodeTypes = {
		'n8n-nodes-base.manualTrigger': new PassThroughNode(),
		'n8n-nodes-llm-batch.llmBatchJob': new LlmBatchJob(),
	};
	const credentials = {
		llmBatchOpenAiApi: { apiKey: API_KEY, baseUrl: `${url}/v1` },
		llmBatchAnthropicApi: { apiKey: API_KEY, baseUrl: url },
	};
	const connections = {
		Start: { main: [[{ node: 'LLM Batch Job', type: 'main' as const, index: 0 }]] },
	};
	// Warm-up: a Check Status of another job loads every module (n8n loads them once, at start).
	await runWorkflow(
		{
			nodes: [
				start,
				{ ...node, parameters: { ...node.parameters, operation: 'status', jobName: 'warm-up' } },
			],
			connections,
		},
		{ nodeTypes, credentials },
	);
	if (process.env.SUBMIT_LARGE_GAPS)
		console.error(
			`before the Submit: rss ${Math.round(process.memoryUsage().rss / 1e6)} MB, heap ${Math.round(process.memoryUsage().heapUsed / 1e6)} MB`,
		);
	const stalls = monitorEventLoopDelay({ resolution: 10 });
	stalls.enable();
	const started = performance.now();
	// The same measure by hand, with when each long gap happened (for finding its cause).
	const gaps: Array<{ at: number; ms: number; cpuMs: number }> = [];
	let last = performance.now();
	let lastCpu = process.cpuUsage();
	const ticker = setInterval(() => {
		const now = performance.now();
		const cpu = process.cpuUsage(lastCpu);
		if (now - last > 100)
			gaps.push({
				at: Math.round(last),
				ms: Math.round(now - last),
				cpuMs: Math.round((cpu.user + cpu.system) / 1000),
			});
		last = now;
		lastCpu = process.cpuUsage();
	}, 10);
	const res = await runWorkflow(
		{ nodes: [start, node], connections },
		{ nodeTypes, credentials, input },
	);
	const durationMs = performance.now() - started;
	stalls.disable();
	clearInterval(ticker);
	if (process.env.SUBMIT_LARGE_GAPS) console.error(JSON.stringify(gaps));
	const maxRssBytes = process.resourceUsage().maxRSS * 1024;
	if (res.run.status !== 'success')
		throw new Error(`Submit failed: ${res.run.data.resultData.error?.message ?? res.run.status}`);
	const out = res.items('LLM Batch Job', 0);
	const batches = out.filter((o) => o.json.batchId !== null);
	// What the provider received: each record's request line (the custom_id's length as sent).
	const policy = inputPolicy({
		provider,
		// The request's bytes do not depend on the identity scope.
		scope: 'bench',
		model: MODEL[provider],
		maxTokens: 1024,
		contextWindow: 0,
	});
	let jsonlBytes = 0;
	for (let i = 0; i < items; i++) {
		const r = policy(i, {
			prompt: String(input[i].json.text),
			system: undefined,
			recordId: String(input[i].json.id),
		});
		if (isItemError(r)) throw new Error(r.message);
		const customId = `${'x'.repeat(12)}-${r.recordId}`;
		const line =
			provider === 'openai'
				? {
						custom_id: customId,
						method: 'POST',
						url: '/v1/chat/completions',
						body: openAiChatBody(r.request),
					}
				: { custom_id: customId, params: anthropicMessageParams(r.request) };
		jsonlBytes += Buffer.byteLength(JSON.stringify(line)) + 1;
	}
	const result: SubmitLargeResult = {
		provider,
		items,
		chars,
		batches: batches.length,
		requests: batches.reduce((a, b) => a + Number(b.json.requestCount), 0),
		maxRssBytes,
		maxStallMs: Math.max(0, ...gaps.filter((g) => g.cpuMs >= g.ms / 2).map((g) => g.ms)),
		maxGapMs: Math.max(0, ...gaps.map((g) => g.ms)),
		histogramMaxMs: stalls.max / 1e6,
		jsonlBytes,
		ledgerBytes: size(ledgerPath),
		walBytes: size(`${ledgerPath}-wal`),
		durationMs,
	};
	console.log(`RESULT ${JSON.stringify(result)}`);
}

if (require.main === module) {
	main().then(
		() => process.exit(0),
		(e: unknown) => {
			console.error(e);
			process.exit(1);
		},
	);
}
