/**
 * One claim for every spend path: records a Submit put in a provider batch are held by that
 * submission until Collect publishes them. LLM Batch Call on the same job and ledger pays for
 * none of them meanwhile (each leaves Failed at once, saying why — no wait for a batch of
 * hours), and after Collect takes their answers from the ledger. SQLite and PostgreSQL, OpenAI
 * and Anthropic.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { closeAllStores } from '../../core/ledger';
import { startSandbox, type Sandbox } from '../../sandbox/server';
import { linearWorkflow } from '../../scripts/lib/workflow-builder';
import { runWorkflow } from '../helpers/harness';
import {
	credentialsFor,
	freshLedger,
	jobWorkflow,
	MODEL,
	submitParams,
	tickets,
	type Kind,
	type Ledger,
	type P,
} from './submit-helpers';

const RECORDS = 20;
let t = Date.now();
let sandbox: Sandbox;

beforeAll(async () => {
	sandbox = await startSandbox({ now: () => t, batch: { processingMs: 60_000 } });
});
afterAll(async () => {
	await sandbox?.close();
	await closeAllStores();
});

function callWorkflow(provider: P, ledger: Ledger, job: string) {
	return linearWorkflow({
		name: 'LLM Batch Call',
		type: 'llmBatchCall',
		parameters: {
			provider,
			model: MODEL[provider],
			prompt: '={{ $json.text }}',
			recordId: '={{ $json.id }}',
			outputFormat: 'text',
			concurrency: 4,
			requestsPerMinute: 100_000,
			tokensPerMinute: 100_000_000,
			options: { progressIntervalSeconds: 0 },
			ledgerJob: job,
			...ledger.params,
		},
		credentials: {
			[provider === 'openai'
				? 'llmBatchOpenAiApi'
				: provider === 'gemini'
					? 'llmBatchGeminiApi'
					: 'llmBatchAnthropicApi']: 'sandbox',
			...(ledger.params.ledgerStore === 'postgres' ? { llmBatchPostgresApi: 'pg' } : {}),
		},
		outputs: 2,
	});
}

describe.each(['sqlite', 'postgres'] as const)(
	'LLM Batch Call beside a live batch (%s)',
	(kind: Kind) => {
		it.each(['openai', 'anthropic', 'gemini'] as const)(
			'%s: no record of the batch is paid in realtime; after Collect their answers come from the ledger',
			async (provider: P) => {
				sandbox.reset();
				const ledger = await freshLedger(kind, `beside-${provider}`);
				const credentials = credentialsFor(sandbox.url, ledger);
				const input = tickets(RECORDS);
				const submit = await runWorkflow(
					jobWorkflow(provider, ledger, 'shared', submitParams(provider)),
					{
						input,
						credentials,
					},
				);
				expect(submit.items('LLM Batch Job', 0)[0].json.requestCount).toBe(RECORDS);

				const during = await runWorkflow(callWorkflow(provider, ledger, 'shared'), {
					input,
					credentials,
				});
				expect(during.run.status).toBe('success');
				const failed = during.items('LLM Batch Call', 1);
				console.log(
					`[beside ${kind} ${provider}] realtime requests while the batch ran: ${sandbox.stats().requests}; ${during.items('LLM Batch Call', 0).length} Success, ${failed.length} Failed`,
				);
				expect(sandbox.stats().requests).toBe(0);
				expect(during.items('LLM Batch Call', 0)).toEqual([]);
				expect(failed).toHaveLength(RECORDS);
				expect((failed[0].json.error as { message: string }).message).toMatch(
					/provider batch of LLM Batch Job/,
				);

				t += 60_000;
				const collect = await runWorkflow(
					jobWorkflow(provider, ledger, 'shared', { operation: 'collect' }),
					{
						credentials,
					},
				);
				expect(collect.items('LLM Batch Job', 0)).toHaveLength(RECORDS);
				const after = await runWorkflow(callWorkflow(provider, ledger, 'shared'), {
					input,
					credentials,
				});
				expect(sandbox.stats().requests).toBe(0);
				expect(after.items('LLM Batch Call', 0)).toHaveLength(RECORDS);
			},
		);
	},
);
