/**
 * `node build/bench/memory-child.js <node|passthrough|sdk> <items> [sandboxUrl]`
 * Runs one workflow in this fresh process and prints `RESULT {json}` with the peak RSS,
 * so each mode's memory is measured alone. All modes load the same modules (the node
 * types map holds the LLM node either way); only the second node of the workflow differs.
 * `sdk` is a reference, not a contender: the pass-through workflow, then a bare openai SDK
 * + p-limit loop over its items attaching each answer, i.e. what calling the API at all costs.
 */
import type { INodeExecutionData } from 'n8n-workflow';
import OpenAI from 'openai';
import pLimit from 'p-limit';

import { runWorkflow } from '../scripts/lib/harness';
import {
	API_KEY,
	credentials,
	gc,
	llmWorkflow,
	MAX_TOKENS,
	MODEL,
	nodeTypes,
	passThroughWorkflow,
	tickets,
} from './common';

const MODES = ['node', 'passthrough', 'sdk'] as const;
const CONCURRENCY = 32;

export interface MemoryChildResult {
	mode: (typeof MODES)[number];
	items: number;
	/** Items on the first output (Success / the pass-through's only output). */
	out: number;
	failed: number;
	/** Peak resident set size in bytes. */
	maxRssBytes: number;
	/** Heap in use when the run ended (garbage included). */
	heapUsedBytes: number;
	/** Live heap after a full GC at the end (when run with --expose-gc): what the results retain. */
	retainedHeapBytes?: number;
	durationMs: number;
}

async function main(): Promise<void> {
	const [modeArg, n, url] = process.argv.slice(2);
	const mode = MODES.find((m) => m === modeArg);
	if (!mode) throw new Error(`Expected mode ${MODES.join(' | ')}, got ${modeArg}`);
	const items = Number(n);
	if (!Number.isInteger(items) || items < 1) throw new Error(`Expected an item count, got ${n}`);
	if (mode !== 'passthrough' && !url) throw new Error('Expected the sandbox URL');
	const started = performance.now();
	const wf =
		mode === 'node'
			? llmWorkflow({
					concurrency: CONCURRENCY,
					requestsPerMinute: 100_000_000,
					tokensPerMinute: 1e12,
					options: { maxTokens: MAX_TOKENS, progressIntervalSeconds: 10 },
				})
			: passThroughWorkflow();
	const res = await runWorkflow(wf, {
		nodeTypes: nodeTypes(),
		credentials: credentials(url ?? 'http://127.0.0.1:9'),
		input: tickets(items),
	});
	if (res.run.status !== 'success') throw new Error(`workflow ended with status ${res.run.status}`);
	const name = mode === 'node' ? 'LLM Batch Call' : 'Pass Through';
	let outItems = res.items(name, 0);
	const failed = mode === 'node' ? res.items(name, 1).length : 0;
	if (mode === 'sdk') outItems = await bareSdk(outItems, url);
	const out = outItems.length;
	if (out + failed !== items)
		throw new Error(`${name} returned ${out} + ${failed} items for ${items}`);
	const durationMs = performance.now() - started;
	// resourceUsage().maxRSS is in kilobytes; read before the GC below.
	const maxRssBytes = process.resourceUsage().maxRSS * 1024;
	const heapUsedBytes = process.memoryUsage().heapUsed;
	let retainedHeapBytes: number | undefined;
	if (typeof (globalThis as { gc?: unknown }).gc === 'function') {
		gc();
		retainedHeapBytes = process.memoryUsage().heapUsed;
	}
	const result: MemoryChildResult = {
		mode,
		items,
		out,
		failed,
		maxRssBytes,
		heapUsedBytes,
		retainedHeapBytes,
		durationMs,
	};
	// Uses the run and the outputs after the GC, so they stay alive through it (n8n keeps
	// them until the execution is saved).
	if (res.run.data.resultData.runData[name]?.length !== 1 || outItems.length !== out)
		throw new Error('outputs changed');
	console.log(`RESULT ${JSON.stringify(result)}`);
}

async function bareSdk(items: INodeExecutionData[], url: string): Promise<INodeExecutionData[]> {
	const client = new OpenAI({ apiKey: API_KEY, baseURL: `${url}/v1`, maxRetries: 0 });
	const limit = pLimit(CONCURRENCY);
	return await Promise.all(
		items.map((item, i) =>
			limit(async () => {
				const r = await client.chat.completions.create({
					model: MODEL,
					messages: [{ role: 'user', content: String(item.json.text) }],
					max_tokens: MAX_TOKENS,
				});
				return {
					json: {
						...item.json,
						llm: { text: r.choices[0]?.message.content ?? '', usage: r.usage },
					},
					pairedItem: { item: i },
				} as INodeExecutionData;
			}),
		),
	);
}

main().then(
	() => process.exit(0),
	(e: unknown) => {
		console.error(e);
		process.exit(1);
	},
);
