/**
 * The example workflows, run in-process (n8n-core WorkflowExecute) over 1,000 records with
 * sandbox faults on and 5 % bad input rows: every record leaves the pipeline in exactly one
 * final output, the retry loop ends, and the one Batch Report's numbers are the counts seen
 * in those outputs.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

import type { ICredentialDataDecryptedObject, IDataObject, INodeExecutionData } from 'n8n-workflow';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { expectedReply, startSandbox, type Sandbox } from '../../sandbox/server';
import {
	WEBHOOK_EXAMPLE_PATH,
	WEBHOOK_EXAMPLE_RECORDS,
	webhookExampleCurl,
} from '../../scripts/n8n/webhook-example.mjs';
import {
	PassThroughNode,
	runWorkflow,
	type RunResult,
	type WorkflowJson,
} from '../helpers/harness';

/** The Webhook stub must look like a trigger so WorkflowExecute starts from it (non-manual modes pass its input through). */
class WebhookStub extends PassThroughNode {
	async trigger() {
		return {};
	}
}

const EXAMPLES = join(__dirname, '..', '..', 'examples');

function loadExample(file: string): WorkflowJson {
	return JSON.parse(readFileSync(join(EXAMPLES, file), 'utf8')) as WorkflowJson;
}

/** The examples are tuned for a real account (500 RPM); the sandbox allows a faster test. */
function forTest(wf: WorkflowJson): WorkflowJson {
	return {
		...wf,
		nodes: wf.nodes.map((n) =>
			n.type === 'n8n-nodes-llm-batch.llmBatchCall'
				? {
						...n,
						parameters: {
							...n.parameters,
							concurrency: 16,
							requestsPerMinute: 60_000,
							tokensPerMinute: 50_000_000,
							options: {
								...(n.parameters.options as IDataObject),
								timeoutSeconds: 5,
								circuitThreshold: 60,
								progressIntervalSeconds: 0,
							},
						},
					}
				: n,
		),
	};
}

const FAULTS = {
	status500: 0.02,
	status503: 0.01,
	reset: 0.01,
	malformed: 0.01,
	truncated: 0.005,
	contentPolicy: 0.005,
};

interface Final {
	rejected: INodeExecutionData[];
	valid: INodeExecutionData[];
	invalid: INodeExecutionData[];
	review: INodeExecutionData[];
	deadLetter: INodeExecutionData[];
	filtered: INodeExecutionData[];
}

function finalOutputs(r: RunResult): Final {
	return {
		rejected: r.items('Batch Prepare', 1),
		valid: r.items('Validate Output', 0),
		invalid: r.items('Validate Output', 1),
		review: r.items('Validate Output', 2),
		deadLetter: r.items('Route Failures', 1),
		filtered: r.items('Route Failures', 2),
	};
}

function tally(
	items: INodeExecutionData[],
	key: (j: IDataObject) => string | undefined,
	into: Record<string, number>,
) {
	for (const it of items) {
		const k = key(it.json);
		if (k !== undefined) into[k] = (into[k] ?? 0) + 1;
	}
}

const code = (j: IDataObject) => (j.error as { code?: string } | undefined)?.code;
const seq = (j: IDataObject) => (j.batchRun as { seq: number }).seq;
const llm = (j: IDataObject) =>
	j.llm as { usage: { inputTokens: number; outputTokens: number }; costUsd?: number } | undefined;

/** The checks both examples share; returns the outputs for example-specific ones. */
function expectConsistentRun(r: RunResult, total: number): { final: Final; report: IDataObject } {
	expect(r.run.status).toBe('success');
	expect(r.run.data.resultData.error).toBeUndefined();
	const final = finalOutputs(r);
	const all = Object.values(final).flat();

	// every record leaves in exactly one final output
	expect(all.length).toBe(total);
	expect(all.map((it) => seq(it.json)).sort((a, b) => a - b)).toEqual([...Array(total).keys()]);

	// the retry loop ends: Route Failures runs at most maxRetries + 1 times, every Retry item came back
	const routeRuns = r.outputs('Route Failures');
	expect(routeRuns.length).toBeGreaterThan(0);
	expect(routeRuns.length).toBeLessThanOrEqual(3);
	const callRuns = r.outputs('LLM Batch Call');
	expect(callRuns.length).toBe(routeRuns.filter((run) => (run[0] ?? []).length > 0).length + 1);
	const retried = r.items('Route Failures', 0).length;
	const callInputs = callRuns.reduce(
		(n, run) => n + (run[0] ?? []).length + (run[1] ?? []).length,
		0,
	);
	expect(callInputs).toBe(total - final.rejected.length + retried);

	// one report for the whole run, whose numbers are the counts seen in the outputs
	const reports = r.items('Batch Report', 0);
	expect(reports).toHaveLength(1);
	const report = reports[0].json;
	expect(report.items).toBe(total);
	expect(report.outcomes).toEqual({
		success: final.valid.length,
		review: final.review.length,
		invalid: final.invalid.length,
		failed: final.deadLetter.length,
		filtered: final.filtered.length,
		rejected: final.rejected.length,
	});
	const codes: Record<string, number> = {};
	for (const list of [final.rejected, final.invalid, final.deadLetter, final.filtered])
		tally(list, code, codes);
	expect(report.byErrorCode).toEqual(codes);
	const answered = [...final.valid, ...final.review, ...final.invalid];
	const tokens = answered.reduce(
		(t, it) => ({
			input: t.input + (llm(it.json)?.usage.inputTokens ?? 0),
			output: t.output + (llm(it.json)?.usage.outputTokens ?? 0),
		}),
		{ input: 0, output: 0 },
	);
	expect(report.tokens).toEqual({ ...tokens, total: tokens.input + tokens.output });
	const cost = answered.reduce((s, it) => s + (llm(it.json)?.costUsd ?? 0), 0);
	expect(report.costUsd as number).toBeCloseTo(cost, 8);
	expect(cost).toBeGreaterThan(0);
	const trips = all.reduce(
		(s, it) => s + ((it.json.retry as { attempts?: number } | undefined)?.attempts ?? 0),
		0,
	);
	expect((report.retries as { trips: number }).trips).toBe(trips);
	expect(trips).toBe(retried);
	expect(report.successRate).toBe(
		Math.round((final.valid.length / (total - final.rejected.length)) * 10_000) / 10_000,
	);
	expect(typeof report.markdown).toBe('string');
	expect(report.markdown).toContain(`| success | ${final.valid.length} |`);

	// Alert carries the same report exactly when a threshold was crossed
	const alerts = r.items('Batch Report', 1);
	expect(alerts.map((a) => a.json)).toEqual(
		(report.alerts as unknown[]).length > 0 ? [report] : [],
	);
	return { final, report };
}

describe('every example imports into n8n', () => {
	// `n8n import:workflow` needs an ID (a workflow without one fails with a NOT NULL constraint),
	// and the editor lists them by name.
	it('has its own workflow ID and an "LLM Batch:" name', () => {
		const dir = join(__dirname, '../../examples');
		const workflows = readdirSync(dir)
			.filter((f) => f.endsWith('.json'))
			.map((f) => ({
				f,
				w: JSON.parse(readFileSync(join(dir, f), 'utf8')) as { id?: unknown; name?: unknown },
			}));
		expect(workflows.length).toBeGreaterThanOrEqual(11);
		for (const { f, w } of workflows) {
			expect(typeof w.id === 'string' && w.id !== '', f).toBe(true);
			expect(String(w.name), f).toMatch(/^LLM Batch: /);
		}
		expect(new Set(workflows.map(({ w }) => w.id)).size).toBe(workflows.length);
	});
});

describe('one Batch Report per run in every example', () => {
	interface Wired {
		name: string;
		type: string;
		parameters: IDataObject;
	}
	const STAMPS = new Set(['n8n-nodes-llm-batch.batchPrepare', 'n8n-nodes-llm-batch.llmBatchJob']);

	/** The nodes upstream of `name` (its ancestors), by name. */
	function ancestors(wf: WorkflowJson, name: string): Set<string> {
		const seen = new Set<string>();
		const queue = [name];
		while (queue.length > 0) {
			const to = queue.shift()!;
			for (const [from, { main }] of Object.entries(wf.connections))
				if (main.some((out) => (out ?? []).some((c) => c.node === to)) && !seen.has(from)) {
					seen.add(from);
					queue.push(from);
				}
		}
		return seen;
	}

	// n8n runs a node once per incoming branch and retry round: a report per node run is part
	// of the run. Several outputs into Batch Report need it to collect the run, and a run stamp
	// (Batch Prepare's, or Collect Results' in a batch job's poll) to know when it is whole.
	it('a Batch Report fed by several outputs collects the whole run, stamped upstream', () => {
		const checked: string[] = [];
		for (const file of readdirSync(EXAMPLES).filter((f) => f.endsWith('.json'))) {
			const wf = loadExample(file);
			const nodes = new Map((wf.nodes as Wired[]).map((n) => [n.name, n]));
			for (const report of (wf.nodes as Wired[]).filter((n) => n.type.endsWith('.batchReport'))) {
				const feeds = Object.values(wf.connections).flatMap(({ main }) =>
					main.flatMap((out) => (out ?? []).filter((c) => c.node === report.name)),
				);
				if (feeds.length < 2) continue;
				checked.push(`${file}: ${report.name}`);
				expect(report.parameters.emitWhen ?? 'runComplete', `${file}: ${report.name}`).toBe(
					'runComplete',
				);
				const stampers = [...ancestors(wf, report.name)].filter((n) => {
					const node = nodes.get(n)!;
					return (
						STAMPS.has(node.type) &&
						(node.type.endsWith('.batchPrepare') || node.parameters.operation === 'collect')
					);
				});
				expect(
					stampers.length,
					`${file}: ${report.name} has no run stamp upstream`,
				).toBeGreaterThan(0);
			}
		}
		expect(checked).toHaveLength(10);
	});
});

describe('example workflows in-process with sandbox faults on', () => {
	let sandbox: Sandbox;
	let credentials: Record<string, ICredentialDataDecryptedObject>;
	beforeAll(async () => {
		sandbox = await startSandbox({ seed: 11 });
		credentials = { llmBatchOpenAiApi: { apiKey: 'sandbox-key', baseUrl: `${sandbox.url}/v1` } };
	});
	afterAll(async () => sandbox?.close());

	it('01 nightly ticket classification: counts add up, the retry loop ends, the report matches', async () => {
		sandbox.configure({ latencyMs: { min: 0, max: 3 }, faults: FAULTS });
		sandbox.reset();
		const bodies = [
			'I was charged twice for the March invoice.',
			'The app crashes when I log in on iOS.',
			'Please add an export to CSV.',
			'My password reset link has expired.',
		];
		const records: IDataObject[] = Array.from({ length: 1000 }, (_, i) => ({
			ticketId: `T${String(i).padStart(5, '0')}`,
			customerId: `C${i % 37}`,
			subject: `Ticket ${i}`,
			body: `${bodies[i % 4]} Reference ${i}.`,
		}));
		// 5 % bad rows: 15 empty bodies, 10 too short, 5 subjects of the wrong type, 10 duplicate IDs, 10 already labelled
		for (let k = 0; k < 50; k++) {
			const i = 20 * k + 7;
			if (k < 15) records[i].body = '';
			else if (k < 25) records[i].body = 'short';
			else if (k < 30) records[i].subject = 12345;
			else if (k < 40) records[i].ticketId = records[i - 1].ticketId;
			else records[i].label = 'bug';
		}
		// forced faults on good rows: content policy, a bad request, a recoverable outage, a permanent outage
		const force = (from: number, n: number, marker: string) => {
			for (let i = from; i < from + n; i++)
				records[i * 20 + 3].body = `${records[i * 20 + 3].body as string} ${marker}`;
		};
		force(0, 10, '[[sandbox:contentPolicy]]');
		force(10, 10, '[[sandbox:status400]]');
		force(20, 10, '[[sandbox:fail-first:3:status500]]');
		force(30, 5, '[[sandbox:status500]]');

		const wf = forTest(loadExample('01-nightly-ticket-classification.json'));
		// The Code node "All tickets again" returns $('Open tickets').all() in n8n; pinned here.
		const tickets = records.map((json) => ({ json }));
		const r = await runWorkflow(wf, {
			credentials,
			pinData: { 'Open tickets': tickets, 'All tickets again': tickets },
		});
		const { final, report } = expectConsistentRun(r, 1000);

		// The sample gate ran first: 50 tickets answered, projected onto all 1,000, under budget.
		expect(r.items('Estimate the full run', 0).length).toBeGreaterThan(0);
		const sample = [
			...r.items('LLM Batch Call (sample)', 0),
			...r.items('LLM Batch Call (sample)', 1),
		];
		expect(sample.length).toBeLessThanOrEqual(50);
		expect(sample.length + r.items('Sample 50', 1).length).toBe(1000);
		const [gate] = r.items('Project the full run', 0);
		const projection = gate.json.projection as {
			items: number;
			sampleItems: number;
			overBudget: boolean;
			costUsd: number;
		};
		expect(projection).toMatchObject({ items: 1000, overBudget: false });
		expect(projection.costUsd).toBeGreaterThan(0);
		expect(r.items('Over budget?', 0)).toHaveLength(0);
		expect(r.items('Over budget?', 1)).toHaveLength(1);
		expect(r.outputs('Stop: projected cost over budget')).toHaveLength(0);

		// the bad rows, by reason
		expect(final.rejected).toHaveLength(50);
		const reasons: Record<string, number> = {};
		tally(
			final.rejected,
			(j) =>
				code(j) === 'duplicate'
					? 'duplicate'
					: (j.error as { issues: Array<{ code: string }> }).issues[0].code,
			reasons,
		);
		expect(reasons).toEqual({ required: 15, minLength: 10, type: 5, duplicate: 10, filtered: 10 });

		// forced faults land where the policy says
		const bodyHas = (it: INodeExecutionData, marker: string) =>
			String(it.json.body).includes(marker);
		expect(final.filtered.filter((it) => bodyHas(it, 'contentPolicy'))).toHaveLength(10);
		expect(
			final.deadLetter.filter((it) => bodyHas(it, 'status400')).map((it) => code(it.json)),
		).toEqual(Array(10).fill('invalid_request'));
		const outage = final.deadLetter.filter((it) => bodyHas(it, '[[sandbox:status500]]'));
		expect(outage).toHaveLength(5);
		for (const it of outage) {
			expect(code(it.json)).toBe('server_error');
			expect(it.json.retry).toEqual({ attempts: 2, exhausted: true });
			expect((it.json.error as { history: unknown[] }).history).toHaveLength(3);
		}
		// the recoverable outage (3 failures in a row = the example's Max Attempts) is provider
		// noise in a healthy run: the node's second pass answers it, no trip through the loop
		// (a random content-policy fault on its good attempt may still filter one: faults are on)
		const recovered = [...final.valid, ...final.review].filter((it) => bodyHas(it, 'fail-first'));
		const recoveredButFiltered = final.filtered.filter((it) => bodyHas(it, 'fail-first'));
		expect(recovered.length + recoveredButFiltered.length).toBe(10);
		expect(recovered.length).toBeGreaterThanOrEqual(8);
		for (const it of recovered) {
			expect(it.json.retry).toBeUndefined();
			expect((it.json.llm as { attempts: number }).attempts).toBeGreaterThanOrEqual(4);
		}

		expect(final.valid.length).toBeGreaterThan(600);
		expect(final.review.length).toBeGreaterThan(50);
		expect(report.runId).toBe((final.valid[0].json.batchRun as { id: string }).id);
	});

	it('01 over budget: the IF stops the workflow before the full run sends anything', async () => {
		sandbox.configure({ latencyMs: { min: 0, max: 0 }, faults: {} });
		sandbox.reset();
		const wf = forTest(loadExample('01-nightly-ticket-classification.json'));
		const gate = wf.nodes.find((n) => n.name === 'Project the full run')!;
		gate.parameters = {
			...gate.parameters,
			projection: { ...(gate.parameters.projection as IDataObject), budgetUsd: 0.000001 },
		};
		const tickets = Array.from({ length: 400 }, (_, i) => ({
			json: {
				ticketId: `T${i}`,
				customerId: 'C1',
				subject: `Ticket ${i}`,
				body: `Refund for invoice ${i} please.`,
			},
		}));
		const r = await runWorkflow(wf, {
			credentials,
			pinData: { 'Open tickets': tickets, 'All tickets again': tickets },
		});
		expect(r.run.data.resultData.error?.message).toMatch(
			/^Projected cost \$[0-9.e-]+ for 400 items is over the budget/,
		);
		expect(r.items('LLM Batch Call (sample)', 0)).toHaveLength(50);
		expect(r.items('Over budget?', 0)).toHaveLength(1);
		// Only the sample was paid; the full run never started.
		expect(sandbox.stats().paidSuccesses).toBe(50);
		expect(r.outputs('LLM Batch Call')).toHaveLength(0);
		expect(r.outputs('Batch Report')).toHaveLength(0);
	});

	it('03 invoice extraction: schema-invalid answers to Invalid, low confidence to Review, counts add up', async () => {
		sandbox.configure({ latencyMs: { min: 0, max: 3 }, faults: FAULTS });
		sandbox.reset();
		const vendors = ['Acme GmbH', 'Globex Ltd', 'Initech Inc', 'Umbrella SARL'];
		const records: IDataObject[] = Array.from({ length: 1000 }, (_, i) => ({
			documentId: `INV-${String(i).padStart(5, '0')}`,
			text: `${vendors[i % 4]}\nInvoice no. ${10_000 + i}\nDate: 2025-03-${String((i % 28) + 1).padStart(2, '0')}\nTotal due: ${(100 + i * 3.25).toFixed(2)} EUR`,
		}));
		// 5 % bad rows: 30 texts too short to be an invoice, 20 duplicate documents (same text, new ID)
		for (let k = 0; k < 50; k++) {
			const i = 20 * k + 11;
			if (k < 30) records[i].text = 'scan failed';
			else records[i].text = records[i - 1].text;
		}
		for (let i = 0; i < 8; i++)
			records[i * 20 + 5].text = `${records[i * 20 + 5].text as string} [[sandbox:contentPolicy]]`;

		const wf = forTest(loadExample('03-invoice-extraction-review.json'));
		const r = await runWorkflow(wf, {
			credentials,
			pinData: { 'Invoice texts': records.map((json) => ({ json })) },
		});
		const { final } = expectConsistentRun(r, 1000);

		expect(final.rejected).toHaveLength(50);
		const rejectedCodes: Record<string, number> = {};
		tally(final.rejected, code, rejectedCodes);
		expect(rejectedCodes).toEqual({ invalid_input: 30, duplicate: 20 });
		expect(final.filtered.length).toBeGreaterThanOrEqual(8);

		// Invalid: schema-valid for the provider, but breaking the business rule (total > 5), each issue with its path
		expect(final.invalid.length).toBeGreaterThan(0);
		for (const it of final.invalid) {
			const error = it.json.error as { code: string; issues: Array<{ path: string }> };
			expect(error.code).toBe('schema_violation');
			expect(error.issues.map((i) => i.path)).toEqual(['/total']);
			expect((it.json.llm as { output: { total: number } }).output.total).toBeLessThanOrEqual(5);
		}
		// Review: confidence under 0.3, and the review branch saw exactly those items
		expect(final.review.length).toBeGreaterThan(100);
		for (const it of final.review)
			expect((it.json.validation as { confidence: number }).confidence).toBeLessThan(0.3);
		expect(r.items('Human review queue', 0)).toHaveLength(final.review.length);
		expect(r.items('Extraction errors', 0)).toHaveLength(final.invalid.length);
	});
	it('06 review tagging, 10 records per request: every review gets its own answer, in about a tenth of the requests', async () => {
		sandbox.configure({
			latencyMs: { min: 0, max: 2 },
			faults: { status500: 0.02, contentPolicy: 0.01 },
			groupFaults: { drop: 0.05, duplicate: 0.05, swap: 0.05 },
		});
		sandbox.reset();
		const texts = ['Lovely fabric.', 'Parcel came late.', 'Too expensive.', 'Size M runs small.'];
		const records: IDataObject[] = Array.from({ length: 500 }, (_, i) => ({
			reviewId: `R${i}`,
			text: `${texts[i % 4]} (order ${5000 + i})`,
		}));
		records[7].text = '';
		// a content-filtered review splits its group down to itself; the others still get answers
		for (const i of [12, 250, 433])
			records[i].text = `${records[i].text} [[sandbox:contentPolicy]]`;
		const wf = forTest(loadExample('06-review-tagging-grouped.json'));
		const call = wf.nodes.find((n) => n.name === 'LLM Batch Call')!;
		expect((call.parameters.options as IDataObject).recordsPerRequest).toBe(10);
		const r = await runWorkflow(wf, {
			credentials,
			pinData: { 'Product reviews': records.map((json) => ({ json })) },
		});
		const { final } = expectConsistentRun(r, 500);
		expect(final.rejected).toHaveLength(1);
		expect(final.filtered.map((it) => it.json.reviewId)).toEqual(
			expect.arrayContaining(['R12', 'R250', 'R433']),
		);
		// each valid answer is the one the review gets when sent alone
		expect(final.valid.length).toBeGreaterThan(450);
		const schema = JSON.parse(call.parameters.jsonSchema as string) as Record<string, unknown>;
		for (const it of final.valid) {
			const l = it.json.llm as { recordId: string; output: unknown; groupSize?: number };
			expect(l.recordId).toBe(it.json.reviewId);
			expect(l.output).toEqual(expectedReply({ prompt: it.json.text as string, schema }).output);
		}
		const grouped = final.valid.filter(
			(it) => (it.json.llm as { groupSize?: number }).groupSize === 10,
		);
		expect(grouped.length).toBeGreaterThan(300);
		// 499 records, the instructions sent with ~50 grouped requests plus the records sent alone
		expect(sandbox.stats().accepted).toBeLessThan(200);
	});

	it('02 webhook batch: the response node receives the one report of the run', async () => {
		sandbox.configure({
			latencyMs: { min: 0, max: 2 },
			faults: { status500: 0.02, contentPolicy: 0.01 },
		});
		sandbox.reset();
		const records: IDataObject[] = Array.from({ length: 200 }, (_, i) => ({
			ticketId: `W${i}`,
			subject: `Webhook ticket ${i}`,
			body: `Please look at order ${i}, it never arrived.`,
		}));
		records[5].body = '';
		const wf = forTest(loadExample('02-webhook-batch.json'));
		const r = await runWorkflow(wf, {
			credentials,
			pinData: { 'Records from body': records.map((json) => ({ json })) },
			extraNodeTypes: { 'n8n-nodes-base.webhook': new WebhookStub() },
		});
		const { report } = expectConsistentRun(r, 200);
		expect(r.items('Respond with report', 0).map((it) => it.json)).toEqual([report]);
		expect((report.outcomes as { rejected: number }).rejected).toBe(1);
	});

	it('02 webhook batch: the two tickets of the curl that npm start and the README print end as 2 successes', async () => {
		sandbox.configure({ latencyMs: { min: 0, max: 2 }, faults: {} });
		sandbox.reset();
		const wf = forTest(loadExample('02-webhook-batch.json'));
		const hook = wf.nodes.find((n) => n.type === 'n8n-nodes-base.webhook');
		expect(hook?.parameters.path).toBe(WEBHOOK_EXAMPLE_PATH);
		const r = await runWorkflow(wf, {
			credentials,
			pinData: {
				'Records from body': WEBHOOK_EXAMPLE_RECORDS.map((json) => ({ json: { ...json } })),
			},
			extraNodeTypes: { 'n8n-nodes-base.webhook': new WebhookStub() },
		});
		expect(r.run.status).toBe('success');
		const [report] = r.items('Respond with report', 0).map((it) => it.json);
		expect(report.items).toBe(2);
		expect(report.outcomes).toEqual({
			success: 2,
			review: 0,
			invalid: 0,
			failed: 0,
			filtered: 0,
			rejected: 0,
		});
		expect(r.items('Validate Output', 0).map((it) => it.json.recordId)).toEqual([
			'T-1001',
			'T-1002',
		]);
		const readme = readFileSync(join(__dirname, '..', '..', 'README.md'), 'utf8');
		expect(readme).toContain(webhookExampleCurl('http://localhost:5678'));
	});
});
