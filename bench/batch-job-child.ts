/**
 * `node build/bench/batch-job-child.js collect <ledgerPath> <sandboxUrl> <items>`
 * One Collect Results execution (LLM Batch Job) in this fresh process over batches a parent
 * submitted, printing `RESULT {json}` with the peak RSS — compared in bench/batch-job.ts
 * with bench/memory-child.js' pass-through workflow over the same number of items.
 */
import type { INode, INodeType } from 'n8n-workflow';

import { LlmBatchJob } from '../nodes/LlmBatchJob/LlmBatchJob.node';
import { PassThroughNode, runWorkflow } from '../scripts/lib/harness';
import { API_KEY, gc } from './common';
import type { MemoryChildResult } from './memory-child';

export function collectWorkflowNodes(ledgerPath: string): INode[] {
	return [
		{
			id: '1',
			name: 'Start',
			type: 'n8n-nodes-base.manualTrigger',
			typeVersion: 1,
			position: [0, 0],
			parameters: {},
		},
		{
			id: '2',
			name: 'LLM Batch Job',
			type: 'n8n-nodes-llm-batch.llmBatchJob',
			typeVersion: 1,
			position: [200, 0],
			parameters: {
				operation: 'collect',
				provider: 'openai',
				jobName: 'bench',
				ledgerStore: 'sqlite',
				ledgerSqlitePath: ledgerPath,
			},
			credentials: { llmBatchOpenAiApi: { id: '1', name: 'bench' } },
		},
	];
}

async function main(): Promise<void> {
	const [mode, ledgerPath, url, n] = process.argv.slice(2);
	if (mode !== 'collect') throw new Error(`Expected mode collect, got ${mode}`);
	const items = Number(n);
	const started = performance.now();
	const nodeTypes: Record<string, INodeType> = {
		'n8n-nodes-base.manualTrigger': new PassThroughNode(),
		'n8n-nodes-llm-batch.llmBatchJob': new LlmBatchJob(),
	};
	const res = await runWorkflow(
		{
			nodes: collectWorkflowNodes(ledgerPath),
			connections: { Start: { main: [[{ node: 'LLM Batch Job', type: 'main', index: 0 }]] } },
		},
		{
			nodeTypes,
			credentials: { llmBatchOpenAiApi: { apiKey: API_KEY, baseUrl: `${url}/v1` } },
		},
	);
	if (res.run.status !== 'success') throw new Error(`workflow ended with status ${res.run.status}`);
	const out = res.items('LLM Batch Job', 0).length;
	const failed = res.items('LLM Batch Job', 1).length;
	if (out + failed !== items) throw new Error(`Collect returned ${out} + ${failed} for ${items}`);
	const durationMs = performance.now() - started;
	const maxRssBytes = process.resourceUsage().maxRSS * 1024;
	const heapUsedBytes = process.memoryUsage().heapUsed;
	let retainedHeapBytes: number | undefined;
	if (typeof (globalThis as { gc?: unknown }).gc === 'function') {
		gc();
		retainedHeapBytes = process.memoryUsage().heapUsed;
	}
	const result: MemoryChildResult = {
		mode: 'node',
		items,
		out,
		failed,
		maxRssBytes,
		heapUsedBytes,
		retainedHeapBytes,
		durationMs,
	};
	if (res.items('LLM Batch Job', 0).length !== out) throw new Error('outputs changed');
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
