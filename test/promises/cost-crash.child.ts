/**
 * The execution the job-budget crash test kills: Start -> LLM Batch Call with a job budget on
 * the ledger, run in-process through WorkflowExecute, in a child process (so SIGKILL takes the
 * whole "n8n" down with requests out). Run by test/promises/cost-crash.test.ts.
 *
 * env LLM_BATCH_COST_CRASH_CHILD: JSON { sandboxUrl, parameters, credentials, records }
 */
import type { ICredentialDataDecryptedObject, INodeParameters } from 'n8n-workflow';

import { linearWorkflow } from '../../scripts/lib/workflow-builder';
import { runWorkflow } from '../helpers/harness';

interface ChildConfig {
	sandboxUrl: string;
	parameters: INodeParameters;
	credentials: Record<string, ICredentialDataDecryptedObject>;
	records: Array<{ id: string; text: string }>;
}

async function main(): Promise<void> {
	const cfg = JSON.parse(process.env.LLM_BATCH_COST_CRASH_CHILD ?? '{}') as ChildConfig;
	const wf = linearWorkflow({
		name: 'LLM Batch Call',
		type: 'llmBatchCall',
		parameters: cfg.parameters,
		credentials: { llmBatchOpenAiApi: 'sandbox', llmBatchPostgresApi: 'pg' },
		outputs: 2,
	});
	await runWorkflow(wf, {
		input: cfg.records.map((json) => ({ json })),
		credentials: cfg.credentials,
	});
	process.stdout.write('finished\n');
}

if (process.env.LLM_BATCH_COST_CRASH_CHILD) {
	main().then(
		() => process.exit(0),
		(error: unknown) => {
			process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
			process.exit(1);
		},
	);
}
