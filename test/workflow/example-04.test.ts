/**
 * examples/04-nightly-batch-half-price.json in-process (WorkflowExecute): its two parts run as
 * separate executions sharing a ledger — the 02:00 part (Batch Prepare -> Submit) and the
 * 15-minute part (Check status -> IF all ended -> Collect -> Validate Output -> Route Failures
 * -> LLM Batch Call -> Batch Report) — against the sandbox's batch API on a fake clock.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type {
	IDataObject,
	IExecuteFunctions,
	INode,
	INodeExecutionData,
	INodeType,
	INodeTypeDescription,
} from 'n8n-workflow';
import { afterAll, beforeAll, expect, it } from 'vitest';

import { startSandbox, type Sandbox } from '../../sandbox/server';
import { runWorkflow, type WorkflowJson } from '../helpers/harness';

/** The IF the example uses, as it is configured there: allEnded is true and batches > 0. */
class AllEndedIf implements INodeType {
	description = {
		displayName: 'If',
		name: 'if',
		group: ['transform'],
		version: 2,
		description: '',
		defaults: { name: 'If' },
		inputs: ['main'],
		outputs: ['main', 'main'],
		properties: [],
	} as unknown as INodeTypeDescription;
	async execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
		const yes: INodeExecutionData[] = [];
		const no: INodeExecutionData[] = [];
		this.getInputData().forEach((item, i) => {
			const ok = item.json.allEnded === true && Number(item.json.batches) > 0;
			(ok ? yes : no).push({ json: item.json, pairedItem: { item: i } });
		});
		return [yes, no];
	}
}

let sandbox: Sandbox;
let t = Date.parse('2026-01-01T02:00:00Z');
beforeAll(async () => {
	sandbox = await startSandbox({ now: () => t });
});
afterAll(async () => sandbox?.close());

const example = JSON.parse(
	readFileSync(join(__dirname, '../../examples/04-nightly-batch-half-price.json'), 'utf8'),
) as WorkflowJson;

/** The nodes reachable from one trigger, that trigger replaced by a manual one. */
function part(wf: WorkflowJson, trigger: string, ledger: string): WorkflowJson {
	const keep = new Set([trigger]);
	const queue = [trigger];
	while (queue.length > 0) {
		const from = queue.shift()!;
		for (const out of wf.connections[from]?.main ?? [])
			for (const c of out ?? [])
				if (!keep.has(c.node)) {
					keep.add(c.node);
					queue.push(c.node);
				}
	}
	const nodes = wf.nodes
		.filter((n) => keep.has(n.name))
		.map((n): INode => {
			if (n.name === trigger)
				return { ...n, type: 'n8n-nodes-base.manualTrigger', typeVersion: 1, parameters: {} };
			const p = { ...n.parameters };
			if ('ledgerSqlitePath' in p) p.ledgerSqlitePath = ledger;
			// The example's deadline is 08:00 of the real day; the test's clock is its own.
			if (p.statusOptions) p.statusOptions = {};
			if (p.collectOptions) p.collectOptions = {};
			if (n.type.endsWith('.llmBatchCall'))
				Object.assign(p, {
					concurrency: 16,
					requestsPerMinute: 600_000,
					tokensPerMinute: 100_000_000,
					options: { ...(p.options as IDataObject), progressIntervalSeconds: 0 },
				});
			return { ...n, parameters: p };
		});
	const connections = Object.fromEntries(
		Object.entries(wf.connections).filter(([k]) => keep.has(k)),
	);
	return { ...wf, nodes, connections };
}

it('example 04: submit at 02:00, poll until all ended, collect 60 % from an expired batch and complete the rest in realtime; every record in exactly one final output', async () => {
	sandbox.batch.configure({ processingMs: 100_000, expiresAfterMs: 60_000 });
	const ledger = join(mkdtempSync(join(tmpdir(), 'example-04-')), 'ledger.sqlite');
	const credentials = {
		llmBatchOpenAiApi: { apiKey: 'sandbox-key', baseUrl: `${sandbox.url}/v1` },
	};
	const extraNodeTypes = { 'n8n-nodes-base.if': new AllEndedIf() };
	const records = Array.from({ length: 500 }, (_, i) => ({
		json: {
			ticketId: `T${String(i).padStart(5, '0')}`,
			customerId: `C${i % 7}`,
			subject: ['Invoice shows the wrong amount', 'App crashes on login', 'Please add dark mode'][
				i % 3
			],
			body: `I was charged twice for invoice ${i}, please check order ${4000 + i}.`,
		},
	}));
	const submit = await runWorkflow(part(example, 'Every night at 02:00', ledger), {
		credentials,
		pinData: { 'Open tickets': records },
		extraNodeTypes,
	});
	expect(submit.run.data.resultData.error?.message).toBeUndefined();
	expect(submit.items('Submit batch', 0).map((b) => b.json.requestCount)).toEqual([500]);

	const poll = part(example, 'Every 15 minutes', ledger);
	const early = await runWorkflow(poll, { credentials, extraNodeTypes });
	expect(early.items('Check status', 0)[0].json).toMatchObject({ batches: 1, allEnded: false });
	expect(early.run.data.resultData.runData['Collect results']).toBeUndefined();

	t += 60_000;
	sandbox.batch.configure({ expiresAfterMs: 86_400_000 });
	const late = await runWorkflow(poll, { credentials, extraNodeTypes });
	expect(late.run.data.resultData.error?.message).toBeUndefined();
	expect(late.items('Check status', 0)[0].json).toMatchObject({ batches: 1, allEnded: true });
	const success = late.items('Collect results', 0);
	const failed = late.items('Collect results', 1);
	expect([success.length, failed.length]).toEqual([300, 200]);
	expect(failed.every((f) => (f.json.error as { code: string }).code === 'expired')).toBe(true);
	expect(late.items('LLM Batch Call (realtime fallback)', 0)).toHaveLength(200);

	const finals = [
		...late.items('Validate Output', 0),
		...late.items('Validate Output', 1),
		...late.items('Validate Output', 2),
		...late.items('Route Failures', 1),
		...late.items('Route Failures', 2),
	];
	const ids = finals.map((f) => f.json.ticketId);
	expect(ids).toHaveLength(500);
	expect(new Set(ids).size).toBe(500);
	// One report of the poll run, though five outputs over two rounds (the batch's answers,
	// then the realtime ones) feed it: its numbers are the final outputs'.
	const reports = late.items('Batch Report', 0);
	expect(reports.map((r) => r.json.items)).toEqual([500]);
	const report = reports[0].json;
	expect(report.outcomes).toEqual({
		success: late.items('Validate Output', 0).length,
		invalid: late.items('Validate Output', 1).length,
		review: late.items('Validate Output', 2).length,
		failed: late.items('Route Failures', 1).length,
		filtered: late.items('Route Failures', 2).length,
		rejected: 0,
	});
	expect(report.retries).toMatchObject({ items: 200 });
	const alerts = late.items('Batch Report', 1);
	expect(alerts.map((a) => a.json)).toEqual(
		(report.alerts as unknown[]).length > 0 ? [report] : [],
	);

	// The next poll finds nothing left to collect.
	const after = await runWorkflow(poll, { credentials, extraNodeTypes });
	expect(after.items('Check status', 0)[0].json).toMatchObject({ batches: 0 });
	expect(after.run.data.resultData.runData['Collect results']).toBeUndefined();
});
