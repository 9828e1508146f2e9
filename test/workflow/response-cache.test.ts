/**
 * In real workflows: the response cache is off by default, and when on never
 * crosses endpoints or credentials, nor jobs unless All Jobs is asked — a dry run against a
 * fake server cannot answer for the real one.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { closeAllStores } from '../../core/ledger';
import { startSandbox, type Sandbox } from '../../sandbox/server';
import { linearWorkflow, llmBatchCallStep } from '../../scripts/lib/workflow-builder';
import { runWorkflow } from '../helpers/harness';

const input = Array.from({ length: 10 }, (_, i) => ({
	json: { id: `C${i}`, text: `Cache record ${i}` },
}));

describe('response cache in a workflow', () => {
	let fake: Sandbox;
	let real: Sandbox;
	beforeAll(async () => {
		fake = await startSandbox({ seed: 1 });
		real = await startSandbox({ seed: 2 });
	});
	afterAll(async () => {
		await fake?.close();
		await real?.close();
		await closeAllStores();
	});

	it('a dry run never answers for the real server; reuse only where asked', async () => {
		const ledgerSqlitePath = join(mkdtempSync(join(tmpdir(), 'cache-wf-')), 'ledger.sqlite');
		const run = async (
			server: Sandbox,
			job: string,
			responseCache?: string,
			apiKey = 'key-one',
		) => {
			server.reset();
			const { items } = await runWorkflow(
				linearWorkflow(
					llmBatchCallStep({
						model: 'gpt-4o-mini',
						prompt: '={{ $json.text }}',
						recordId: '={{ $json.id }}',
						outputFormat: 'text',
						concurrency: 4,
						requestsPerMinute: 100_000,
						tokensPerMinute: 100_000_000,
						ledgerStore: 'sqlite',
						ledgerSqlitePath,
						ledgerJob: job,
						options: {
							progressIntervalSeconds: 0,
							...(responseCache ? { responseCache } : {}),
						},
					}),
				),
				{ input, credentials: { llmBatchOpenAiApi: { apiKey, baseUrl: `${server.url}/v1` } } },
			);
			const success = items('LLM Batch Call', 0);
			expect(success).toHaveLength(10);
			return {
				requests: server.stats().requests,
				cached: success.filter((i) => (i.json.llm as { cached: boolean }).cached).length,
			};
		};
		// The dry run, with the cache on for all jobs.
		expect(await run(fake, 'dry-run', 'allJobs')).toEqual({ requests: 10, cached: 0 });
		// The real server, cache on for all jobs: another base URL, so nothing is reused.
		expect(await run(real, 'real', 'allJobs')).toEqual({ requests: 10, cached: 0 });
		// Same endpoint, another credential: nothing reused.
		expect(await run(fake, 'other-key', 'allJobs', 'key-two')).toEqual({
			requests: 10,
			cached: 0,
		});
		// Same endpoint and credential, but the cache scoped to this job (another job): paid.
		expect(await run(fake, 'scoped', 'job')).toEqual({ requests: 10, cached: 0 });
		// Default (off): paid.
		expect(await run(fake, 'default')).toEqual({ requests: 10, cached: 0 });
		// Same endpoint and credential, All Jobs: reused, marked cached.
		expect(await run(fake, 'reuse', 'allJobs')).toEqual({ requests: 0, cached: 10 });
	});
});
