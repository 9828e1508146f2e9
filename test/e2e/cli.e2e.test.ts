// The packed package, community-installed into a fresh n8n 2.41.1 user folder, driven by the CLI:
// `n8n import:credentials`, `n8n import:workflow`, `n8n execute --id … --rawOutput`.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { expectedReply, plainReply } from '../../sandbox/reply';
import {
	counts,
	freshUserFolder,
	n8n,
	outputs,
	pairedIndex,
	patchCodeNodeItems,
	printTimings,
	readWorkflow,
	timed,
	withManualTrigger,
	type Sandbox,
	type WorkflowJson,
} from './harness';
import { checkPipeline, finalOutputsByRecord } from './pipeline';

const fixtures = path.join(__dirname, 'fixtures');
const TICKETS = '01-nightly-ticket-classification.json';
const INVOICES = '03-invoice-extraction-review.json';
const GROUPED = '06-review-tagging-grouped.json';
const examples: Record<string, WorkflowJson> = Object.fromEntries(
	n8n.exampleFiles().map((f) => [path.basename(f), readWorkflow(f)]),
);
// Example 1's sample data gets three planted rows, so every branch is taken deterministically:
// T00003 fails its first 12 calls (the sample gate's 50-ticket sample holds all 25 demo tickets
// and spends 3 attempts plus 3 in the node's second pass for provider noise; the full run's
// first and second pass spend 6 more → Failed → Route Failures' Retry → succeeds on the loop's
// round), T00006 gets a 400 (Dead Letter), T00008 a refusal (Filtered), and T00010 a body too
// short for Batch Prepare's rule (Rejected).
if (examples[TICKETS]) {
	examples[TICKETS] = patchCodeNodeItems(
		examples[TICKETS],
		'Open tickets',
		[
			"items[2].json.body += ' [[sandbox:fail-first:12:status500]]';",
			"items[5].json.body += ' [[sandbox:status400]]';",
			"items[7].json.body += ' [[sandbox:contentPolicy]]';",
			"items[9].json.body = 'short';",
		].join('\n'),
	);
}

// Faults the sandbox injects while the examples run (share of requests, seeded).
const FAULTS = {
	status500: 0.06,
	status503: 0.04,
	reset: 0.04,
	malformed: 0.04,
	truncated: 0.03,
	contentPolicy: 0.05,
};

describe('n8n CLI with the community-installed package', () => {
	let userFolder: string;
	let cleanup = () => {};
	let sandbox: Sandbox;

	beforeAll(async () => {
		const fresh = await timed('install package into fresh user folder', () =>
			freshUserFolder('cli'),
		);
		({ userFolder, cleanup } = fresh);
		sandbox = await n8n.startSandbox(['--port', '0', '--seed', '7']);
		// The first CLI command also runs the SQLite migrations.
		await timed('import:credentials (incl. migrations)', () =>
			n8n.importCredentials(userFolder, n8n.sandboxCredentials(sandbox.url)),
		);
		// One import for all workflows. `n8n execute` starts at a Manual Trigger, so examples without one get a copy with one.
		const dir = path.join(userFolder, 'workflows');
		mkdirSync(dir);
		for (const file of ['base-nodes.workflow.json', 'llm-batch-call.workflow.json']) {
			writeFileSync(path.join(dir, file), JSON.stringify(readWorkflow(path.join(fixtures, file))));
		}
		for (const workflow of Object.values(examples)) withManualTrigger(workflow, dir);
		await timed('import:workflow (all, one boot)', () => n8n.importWorkflowDir(userFolder, dir));
	});

	afterAll(async () => {
		await sandbox?.stop();
		cleanup();
		printTimings('cli.e2e');
	});

	it('runs a workflow of n8n-nodes-base nodes (plumbing: import, execute, parse the run)', async () => {
		const { run, exitCode } = await timed('execute base-nodes fixture', () =>
			n8n.executeWorkflow(userFolder, 'e2eFixtureBase01'),
		);
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
		await sandbox.configure({ faults: {}, latencyMs: { min: 0, max: 0 } });
		await sandbox.reset();
		const { run, exitCode, stdout } = await timed('execute LLM Batch Call fixture', () =>
			n8n.executeWorkflow(userFolder, 'e2eFixtureCall001'),
		);
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
			expect(llm).toMatchObject({
				recordId: `r${i + 1}`,
				text: plainReply(prompt),
				provider: 'openai',
				model: 'gpt-4o-mini',
				attempts: 1,
			});
		});
		const stats = await sandbox.stats();
		expect(stats).toMatchObject({ requests: 6, paidSuccesses: 6, duplicateSuccesses: 0 });
		// The sandbox key never shows up in what n8n printed.
		expect(stdout).not.toContain('"apiKey"');
	});

	/** Runs an example through `n8n execute` on a freshly configured sandbox; the run must succeed. */
	async function runExample(file: string, sandboxConfig: Record<string, unknown>) {
		const workflow: WorkflowJson | undefined = examples[file];
		expect(workflow, `examples/${file} is missing`).toBeDefined();
		await sandbox.configure(sandboxConfig);
		await sandbox.reset();
		const { run, exitCode } = await timed(`execute ${file}`, () =>
			n8n.executeWorkflow(userFolder, workflow!.id),
		);
		expect(run.data.resultData.error?.message).toBeUndefined();
		expect(exitCode).toBe(0);
		expect(run.status).toBe('success');
		return { workflow: workflow!, run };
	}

	for (const [file, label] of [
		[TICKETS, 'example 1 (ticket classification)'],
		[INVOICES, 'example 3 (invoice extraction with review)'],
	] as const) {
		it(`${label} with faults on: every record in exactly one output, report matches`, async () => {
			const { workflow, run } = await runExample(file, {
				faults: FAULTS,
				latencyMs: { min: 5, max: 60 },
			});

			const c = checkPipeline(run, workflow);
			const stats = await sandbox.stats();
			process.stdout.write(
				`[e2e ${file}] ${JSON.stringify({ ...c, report: undefined })} sandbox=${JSON.stringify({ requests: stats.requests, faults: stats.faults, maxInFlight: stats.maxInFlight })}\n`,
			);
			// Faults really happened, and the engine never paid twice for one prompt — except the
			// tickets example 01's sample gate answered before the full run answered them again.
			const injected = Object.values(stats.faults).reduce((a, b) => a + b, 0);
			expect(injected).toBeGreaterThan(0);
			const sampleOk = run.data.resultData.runData['LLM Batch Call (sample)']
				? outputs(run, 'LLM Batch Call (sample)')[0]
				: [];
			const fullOk = new Set(
				(outputs(run, 'LLM Batch Call')[0] ?? []).map((i) => String(i.json.recordId)),
			);
			expect(stats.duplicateSuccesses).toBe(
				sampleOk.filter((i) => fullOk.has(String(i.json.recordId))).length,
			);
			expect(stats.paidSuccesses).toBe(c.success + sampleOk.length);
			if (file === TICKETS) expect(sampleOk.length).toBeGreaterThan(0);
			const concurrency = Number(
				workflow.nodes.find((n) => n.type.endsWith('.llmBatchCall'))!.parameters.concurrency ?? 8,
			);
			expect(stats.maxInFlight).toBeLessThanOrEqual(concurrency);
			expect(c.source).toBeGreaterThanOrEqual(20);

			if (file === TICKETS) {
				// The planted rows took their branches.
				const final = finalOutputsByRecord(run, workflow);
				expect(final.T00003).toMatch(/^(valid|review)$/);
				expect(final.T00006).toBe('deadLetter');
				expect(final.T00008).toBe('filtered');
				expect(final.T00010).toBe('rejected');
				expect(c.callRuns, 'the Retry loop ran the call node again').toBeGreaterThanOrEqual(2);
				expect(c.retry).toBeGreaterThanOrEqual(1);
				expect(c.errorCodes.invalid_request).toBeGreaterThanOrEqual(1);
				const retried = outputs(run, 'LLM Batch Call')[0].find(
					(i) => i.json.recordId === 'T00003',
				)!;
				expect((retried.json.llm as { attempts: number }).attempts).toBeGreaterThanOrEqual(1);
			}
		});
	}
	it('example 6 (Records per Request 10) with faults and grouped-answer faults: every review once, each answer its own', async () => {
		const { workflow, run } = await runExample(GROUPED, {
			faults: FAULTS,
			groupFaults: { drop: 0.05, duplicate: 0.05, swap: 0.05 },
			latencyMs: { min: 5, max: 60 },
		});

		// Every review in exactly one output, paired to its source, the report adding up.
		const c = checkPipeline(run, workflow);
		expect(c.source).toBe(200);
		const call = workflow.nodes.find((n) => n.type.endsWith('.llmBatchCall'))!;
		expect((call.parameters.options as Record<string, unknown>).recordsPerRequest).toBe(10);
		const schema = JSON.parse(String(call.parameters.jsonSchema)) as Record<string, unknown>;
		const success = outputs(run, 'LLM Batch Call')[0] ?? [];
		expect(success.length).toBeGreaterThan(150);
		// Each answer is the one its own review gets when sent alone (the sandbox is deterministic
		// per prompt), whatever the grouped answers dropped, duplicated or swapped.
		for (const item of success) {
			const llm = item.json.llm as { recordId: string; output: unknown };
			expect(llm.recordId).toBe(item.json.reviewId);
			expect(llm.output).toEqual(expectedReply({ prompt: String(item.json.text), schema }).output);
		}
		const grouped = success.filter((i) => (i.json.llm as { groupSize?: number }).groupSize! > 1);
		const stats = await sandbox.stats();
		process.stdout.write(
			`[e2e ${GROUPED}] ${JSON.stringify({ ...c, report: undefined })} grouped=${grouped.length} sandbox=${JSON.stringify({ requests: stats.requests, faults: stats.faults })}\n`,
		);
		expect(grouped.length).toBeGreaterThan(100);
		// The instructions went once per group: far fewer requests than reviews.
		expect(stats.requests).toBeLessThan(c.callInputs);
	});
});
