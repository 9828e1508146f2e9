/**
 * Submit of LLM Batch Job in a child process (vite-free bundle), which the test kills with
 * SIGKILL once Submit is done, before any Collect: the "n8n" dies between the two.
 *
 * env LLM_BATCH_JOB_CRASH_CHILD: JSON { sandboxUrl, ledgerPath, records, batchSize }
 * stdout: a line `submitted <n>` once Submit returned; then it waits to be killed.
 */
import type { INode } from 'n8n-workflow';

import { runWorkflow } from '../helpers/harness';

export const jobCrashPrompt = (i: number) => `Record ${i}: summarise order ${i * 13} in one line`;
export const jobCrashId = (i: number) => `R${String(i).padStart(5, '0')}`;

export function submitNode(ledgerPath: string, batchSize: number): INode {
	return {
		id: '2',
		name: 'LLM Batch Job',
		type: 'n8n-nodes-llm-batch.llmBatchJob',
		typeVersion: 1,
		position: [200, 0],
		parameters: {
			operation: 'submit',
			provider: 'openai',
			jobName: 'crash-job',
			ledgerStore: 'sqlite',
			ledgerSqlitePath: ledgerPath,
			model: 'gpt-4o-mini',
			prompt: '={{ $json.text }}',
			recordId: '={{ $json.id }}',
			outputFormat: 'text',
			options: { batchSize },
		},
		credentials: { llmBatchOpenAiApi: { id: '1', name: 'sandbox' } },
	};
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
	};
	const input = Array.from({ length: cfg.records }, (_, i) => ({
		json: { id: jobCrashId(i), text: jobCrashPrompt(i) },
	}));
	const { items } = await runWorkflow(
		{
			nodes: [startNode, submitNode(cfg.ledgerPath, cfg.batchSize)],
			connections: { Start: { main: [[{ node: 'LLM Batch Job', type: 'main', index: 0 }]] } },
		},
		{
			input,
			credentials: {
				llmBatchOpenAiApi: { apiKey: 'sandbox-key', baseUrl: `${cfg.sandboxUrl}/v1` },
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
