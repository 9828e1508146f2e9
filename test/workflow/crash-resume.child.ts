/**
 * The workflow the crash test kills: Start -> LLM Batch Call with the SQLite ledger on,
 * run in-process through WorkflowExecute. Run by test/workflow/crash-resume.test.ts in a
 * child process (vite-node), so SIGKILL takes the whole "n8n" down mid-node.
 *
 * env LLM_BATCH_CRASH_CHILD: JSON { sandboxUrl, ledgerPath, job, records, concurrency }
 * stdout, last line: JSON { success, failed, status }
 */

import { linearWorkflow, llmBatchCallStep } from '../../scripts/lib/workflow-builder';
import { runWorkflow } from '../helpers/harness';

interface ChildConfig {
	sandboxUrl: string;
	ledgerPath: string;
	job: string;
	records: number;
	concurrency: number;
}

export const crashPrompt = (i: number) => `Record ${i}: summarise order ${i * 13} in one line`;
export const crashId = (i: number) => `R${String(i).padStart(5, '0')}`;

async function main(): Promise<void> {
	const cfg = JSON.parse(process.env.LLM_BATCH_CRASH_CHILD ?? '{}') as ChildConfig;
	const wf = linearWorkflow(
		llmBatchCallStep({
			model: 'gpt-4o-mini',
			systemPrompt: 'Summarise.',
			prompt: '={{ $json.text }}',
			recordId: '={{ $json.id }}',
			outputFormat: 'text',
			concurrency: cfg.concurrency,
			requestsPerMinute: 1_000_000,
			tokensPerMinute: 1_000_000_000,
			ledgerStore: 'sqlite',
			ledgerJob: cfg.job,
			ledgerSqlitePath: cfg.ledgerPath,
			options: { progressIntervalSeconds: 0, maxAttempts: 3 },
		}),
	);
	const input = Array.from({ length: cfg.records }, (_, i) => ({
		json: { id: crashId(i), text: crashPrompt(i) },
	}));
	const { items, run } = await runWorkflow(wf, {
		input,
		credentials: { llmBatchOpenAiApi: { apiKey: 'sandbox-key', baseUrl: `${cfg.sandboxUrl}/v1` } },
	});
	process.stdout.write(
		`${JSON.stringify({ status: run.status, success: items('LLM Batch Call', 0).length, failed: items('LLM Batch Call', 1).length })}\n`,
	);
}

// Only when run as the child: the test imports the prompt helpers from here.
if (process.env.LLM_BATCH_CRASH_CHILD) {
	main().then(
		() => process.exit(0),
		(error: unknown) => {
			process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
			process.exit(1);
		},
	);
}
