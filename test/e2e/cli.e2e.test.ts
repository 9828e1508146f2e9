// The packed package, community-installed into a fresh n8n 2.41.1 user folder, driven by the CLI:
// `n8n import:credentials`, `n8n import:workflow`, `n8n execute --id … --rawOutput`.
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { plainReply } from '../../sandbox/reply';
import { counts, freshUserFolder, n8n, outputs, pairedIndex, printTimings, timed, type Sandbox } from './harness';

const fixtures = path.join(__dirname, 'fixtures');

describe('n8n CLI with the community-installed package', () => {
	let userFolder: string;
	let cleanup = () => {};
	let sandbox: Sandbox | undefined;

	beforeAll(async () => {
		const fresh = await timed('install package into fresh user folder', () => freshUserFolder('cli'));
		({ userFolder, cleanup } = fresh);
		sandbox = await n8n.startSandbox(['--port', '0', '--seed', '7']);
		// First CLI command also runs the SQLite migrations.
		await timed('import:credentials (incl. migrations)', () => n8n.importCredentials(userFolder, n8n.sandboxCredentials(sandbox!.url)));
	});

	afterAll(async () => {
		await sandbox?.stop();
		cleanup();
		printTimings('cli.e2e');
	});

	it('runs a workflow of n8n-nodes-base nodes (plumbing: import, execute, parse the run)', async () => {
		await n8n.importWorkflow(userFolder, path.join(fixtures, 'base-nodes.workflow.json'));
		const { run, exitCode } = await timed('execute base-nodes fixture', () => n8n.executeWorkflow(userFolder, 'e2eFixtureBase01'));
		expect(exitCode).toBe(0);
		expect(run.status).toBe('success');
		expect(run.mode).toBe('cli');
		expect(counts(run, 'Split')).toEqual([3]);
		const [greater, notGreater] = outputs(run, 'Greater Than One');
		expect(greater.map((i) => i.json.list)).toEqual([2, 3]);
		expect(notGreater.map((i) => i.json.list)).toEqual([1]);
		expect(greater.map(pairedIndex)).toEqual([1, 2]);
		expect(notGreater.map(pairedIndex)).toEqual([0]);
	});

	it('loads n8n-nodes-llm-batch.llmBatchCall from .n8n/nodes and runs it against the sandbox', async () => {
		await n8n.importWorkflow(userFolder, path.join(fixtures, 'llm-batch-call.workflow.json'));
		const { run, exitCode, stdout } = await timed('execute LLM Batch Call fixture', () => n8n.executeWorkflow(userFolder, 'e2eFixtureCall001'));
		expect(run.data.resultData.error?.message).toBeUndefined();
		expect(exitCode).toBe(0);
		expect(run.status).toBe('success');
		const [success, failed] = outputs(run, 'LLM Batch Call');
		expect(failed ?? []).toEqual([]);
		expect(success).toHaveLength(6);
		success.forEach((item, i) => {
			expect(pairedIndex(item)).toBe(i);
			const prompt = `Classify ticket number ${i + 1}`;
			expect(item.json).toMatchObject({ id: `r${i + 1}`, text: prompt });
			const llm = item.json.llm as Record<string, unknown>;
			expect(llm).toMatchObject({ recordId: `r${i + 1}`, text: plainReply(prompt), provider: 'openai', model: 'gpt-4o-mini', attempts: 1 });
		});
		// The sandbox key never shows up in what n8n printed.
		expect(stdout).not.toContain('"apiKey"');
	});
});
