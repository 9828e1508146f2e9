/**
 * LLM Batch Job says what it sees before it calls anyone: a job name the ledger does not know
 * is not "all ended" (Check Status, Collect and Cancel say the job is unknown and list the
 * jobs the ledger knows), and a job submitted to one provider, checked with the other, names
 * the mismatch. Core on both ledgers and providers; the node's error in a real workflow.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import type { INode } from 'n8n-workflow';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { cancelJob, collectJob, jobStatus, JobConfigError } from '../../core/batch-api';
import { closeAllStores } from '../../core/ledger';
import { startSandbox, type Sandbox } from '../../sandbox/server';
import { runWorkflow, type WorkflowJson } from '../helpers/harness';
import {
	LEDGERS,
	MODEL,
	PROVIDERS,
	collectOptions,
	fakeClock,
	jobContext,
	newLedger,
	openLedger,
	submit,
	textRecords,
} from './collect-fixtures';

let sandbox: Sandbox;
beforeAll(async () => {
	sandbox = await startSandbox({ now: () => fakeClock.t, batch: { processingMs: 100_000 } });
});
afterAll(async () => {
	await sandbox?.close();
	await closeAllStores();
});

/** A fetch that counts the provider calls made through it. */
function counting() {
	const calls: string[] = [];
	const f: typeof fetch = async (input, init) => {
		calls.push(String(input instanceof Request ? input.url : input));
		return await fetch(input, init);
	};
	return { calls, f };
}

describe.each(PROVIDERS)('job checks before any call: %s', (provider) => {
	const other = provider === 'openai' ? 'anthropic' : 'openai';

	it.each(LEDGERS)(
		'%s: an unknown job name is an error naming it and the known jobs, for Status, Collect and Cancel; 0 calls',
		async (kind) => {
			const store = await openLedger(await newLedger(kind));
			await submit(
				jobContext(sandbox, provider, store, 'nightly-tickets'),
				textRecords(provider, 3),
			);
			const { calls, f } = counting();
			const typo = jobContext(sandbox, provider, store, 'nightly-tikets', f);
			for (const op of [
				() => jobStatus(typo),
				() => collectJob(typo, collectOptions(typo)),
				() => cancelJob(typo),
			]) {
				const error = await op().then(
					() => undefined,
					(e: unknown) => e,
				);
				expect(error).toBeInstanceOf(JobConfigError);
				expect(error).toMatchObject({
					code: 'unknown_job',
					message:
						'Job "nightly-tikets" is not in this ledger: nothing was ever submitted under this name',
					description: expect.stringContaining('Jobs this ledger knows: nightly-tickets.'),
				});
			}
			expect(calls).toEqual([]);
			await store.close();
		},
	);

	it.each(LEDGERS)(
		`%s: a job submitted to ${provider}, checked as ${other}: the mismatch is named; 0 calls`,
		async (kind) => {
			const store = await openLedger(await newLedger(kind));
			await submit(jobContext(sandbox, provider, store, 'mixed'), textRecords(provider, 3));
			const { calls, f } = counting();
			const wrong = jobContext(sandbox, other, store, 'mixed', f);
			const name = (p: string) =>
				p === 'openai' ? 'OpenAI' : p === 'gemini' ? 'Google Gemini' : 'Anthropic';
			for (const op of [
				() => jobStatus(wrong),
				() => collectJob(wrong, collectOptions(wrong)),
				() => cancelJob(wrong),
			]) {
				await expect(op()).rejects.toMatchObject({
					name: 'JobConfigError',
					code: 'provider_mismatch',
					message: `Job "mixed" was submitted to ${name(provider)}, but this node is set to ${name(other)}`,
				});
			}
			expect(calls).toEqual([]);
			await store.close();
		},
	);
});

describe('in a workflow: Check Status with a typo stops the run with a configuration error', () => {
	function node(ledger: string, parameters: Record<string, unknown>): INode {
		return {
			id: 'job',
			name: 'LLM Batch Job',
			type: 'n8n-nodes-llm-batch.llmBatchJob',
			typeVersion: 1,
			position: [200, 0],
			parameters: {
				provider: 'openai',
				ledgerStore: 'sqlite',
				ledgerSqlitePath: ledger,
				...parameters,
			},
			credentials: { llmBatchOpenAiApi: { id: '1', name: 'sandbox' } },
		};
	}
	const single = (n: INode): WorkflowJson => ({
		nodes: [
			{
				id: 't',
				name: 'Start',
				type: 'n8n-nodes-base.manualTrigger',
				typeVersion: 1,
				position: [0, 0],
				parameters: {},
			},
			n,
		],
		connections: { Start: { main: [[{ node: n.name, type: 'main', index: 0 }]] } },
	});
	const credentials = () => ({
		llmBatchOpenAiApi: { apiKey: 'sk-test', baseUrl: `${sandbox.url}/v1` },
	});

	it('Status and Collect of an unknown job: the run fails with NodeOperationError naming the job, no allEnded item', async () => {
		const ledger = join(mkdtempSync(join(tmpdir(), 'collect-unknown-')), 'ledger.sqlite');
		const submitted = await runWorkflow(
			single(
				node(ledger, {
					operation: 'submit',
					jobName: 'nightly',
					model: MODEL.openai,
					prompt: '={{ $json.text }}',
					recordId: '={{ $json.id }}',
					outputFormat: 'text',
				}),
			),
			{ input: [{ json: { id: 'a', text: 'hello' } }], credentials: credentials() },
		);
		expect(submitted.run.status).toBe('success');
		for (const operation of ['status', 'collect']) {
			const r = await runWorkflow(single(node(ledger, { operation, jobName: 'nigthly' })), {
				credentials: credentials(),
			});
			expect(r.items('LLM Batch Job', 0)).toEqual([]);
			const error = r.run.data.resultData.error;
			expect({
				name: error?.name,
				message: error?.message,
				description: error?.description,
			}).toEqual({
				name: 'NodeOperationError',
				message: 'Job "nigthly" is not in this ledger: nothing was ever submitted under this name',
				description: expect.stringContaining('Jobs this ledger knows: nightly.'),
			});
		}
	});
});
