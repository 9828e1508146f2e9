/**
 * Submit of LLM Batch Job in a child process (vite-free bundle), which the test kills with
 * SIGKILL once Submit is done, before any Collect: the "n8n" dies between the two.
 *
 * env LLM_BATCH_JOB_CRASH_CHILD: JSON { sandboxUrl, ledgerPath, records, batchSize, provider?,
 *   killAfterAccept? }
 * stdout: a line `submitted <n>` once Submit returned; then it waits to be killed.
 * killAfterAccept: the process SIGKILLs itself inside Submit, the moment the provider's answer
 * to the first batch create has arrived (accepted), before the ledger could record it.
 */
import type { INode } from 'n8n-workflow';

import { runWorkflow } from '../helpers/harness';

export const jobCrashPrompt = (i: number) => `Record ${i}: summarise order ${i * 13} in one line`;
export const jobCrashId = (i: number) => `R${String(i).padStart(5, '0')}`;

export function submitNode(
	ledgerPath: string,
	batchSize: number,
	provider: 'openai' | 'anthropic' = 'openai',
): INode {
	return {
		id: '2',
		name: 'LLM Batch Job',
		type: 'n8n-nodes-llm-batch.llmBatchJob',
		typeVersion: 1,
		position: [200, 0],
		parameters: {
			operation: 'submit',
			provider,
			jobName: 'crash-job',
			ledgerStore: 'sqlite',
			ledgerSqlitePath: ledgerPath,
			model: provider === 'openai' ? 'gpt-4o-mini' : 'claude-3-5-haiku-latest',
			prompt: '={{ $json.text }}',
			recordId: '={{ $json.id }}',
			outputFormat: 'text',
			options: { batchSize },
		},
		credentials: {
			[provider === 'openai' ? 'llmBatchOpenAiApi' : 'llmBatchAnthropicApi']: {
				id: '1',
				name: 'sandbox',
			},
		},
	};
}

/** Dies (SIGKILL) as soon as the answer to a batch create has been read in full. */
function killAfterBatchAccepted(): void {
	// The module object itself (the node's fetch calls http.request on it).
	// eslint-disable-next-line @typescript-eslint/no-require-imports
	const http = require('node:http') as typeof import('node:http');
	const request = http.request;
	http.request = ((...args: Parameters<typeof request>) => {
		const req = request(...args);
		req.on('response', (res) => {
			if (req.method === 'POST' && /\/batches$/.test(req.path))
				res.on('end', () => process.kill(process.pid, 'SIGKILL'));
		});
		return req;
	}) as typeof request;
}

export const startNode: INode = {
	id: '1',
	name: 'Start',
	type: 'n8n-nodes-base.manualTrigger',
	typeVersion: 1,
	position: [0, 0],
	parameters: {},
};

async function main(): Promise<void> {
	const cfg = JSON.parse(process.env.LLM_BATCH_JOB_CRASH_CHILD ?? '{}') as {
		sandboxUrl: string;
		ledgerPath: string;
		records: number;
		batchSize: number;
		provider?: 'openai' | 'anthropic';
		killAfterAccept?: boolean;
	};
	if (cfg.killAfterAccept) killAfterBatchAccepted();
	const input = Array.from({ length: cfg.records }, (_, i) => ({
		json: { id: jobCrashId(i), text: jobCrashPrompt(i) },
	}));
	const { items } = await runWorkflow(
		{
			nodes: [startNode, submitNode(cfg.ledgerPath, cfg.batchSize, cfg.provider)],
			connections: { Start: { main: [[{ node: 'LLM Batch Job', type: 'main', index: 0 }]] } },
		},
		{
			input,
			credentials: {
				llmBatchOpenAiApi: { apiKey: 'sandbox-key', baseUrl: `${cfg.sandboxUrl}/v1` },
				llmBatchAnthropicApi: { apiKey: 'sandbox-key', baseUrl: cfg.sandboxUrl },
			},
		},
	);
	process.stdout.write(`submitted ${items('LLM Batch Job', 0).length}\n`);
	// Stay alive: the test kills this process, as a crash of n8n would.
	setInterval(() => undefined, 60_000);
}

if (process.env.LLM_BATCH_JOB_CRASH_CHILD) {
	main().catch((error: unknown) => {
		process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
		process.exit(1);
	});
}
