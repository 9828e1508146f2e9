import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import type { INode, INodeParameters } from 'n8n-workflow';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { costUsd } from '../../core/cost';
import { expectedReply, startSandbox, type Sandbox } from '../../sandbox/server';
import { linearWorkflow, llmBatchCallStep } from '../../scripts/lib/workflow-builder';
import { runWorkflow, type WorkflowJson } from '../helpers/harness';

const SCHEMA = {
	type: 'object',
	properties: {
		category: { type: 'string', enum: ['billing', 'bug', 'feature', 'other'] },
		echo: { type: 'string' },
	},
	required: ['category', 'echo'],
};
const INSTRUCTIONS = 'Classify the support ticket into billing, bug, feature or other. '.repeat(
	190,
);

function workflow(
	params: Record<string, unknown>,
	credentials: INode['credentials'],
): WorkflowJson {
	const wf = linearWorkflow(
		llmBatchCallStep({
			model: 'gpt-4o-mini',
			systemPrompt: INSTRUCTIONS,
			prompt: '={{ $json.text }}',
			recordId: '={{ $json.id }}',
			outputFormat: 'json',
			jsonSchema: JSON.stringify(SCHEMA),
			concurrency: 8,
			requestsPerMinute: 60_000,
			tokensPerMinute: 100_000_000,
			...params,
		} as INodeParameters),
		{ name: 'Batch Report', type: 'batchReport' },
	);
	wf.nodes[1].credentials = credentials;
	return wf;
}

const tickets = (n: number) =>
	Array.from({ length: n }, (_, i) => ({
		json: { id: `T${String(i).padStart(4, '0')}`, text: `Ticket ${i}: invoice ${i * 7} is wrong` },
	}));

describe('Fewer tokens per correct answer, in a real workflow (WorkflowExecute) against the sandbox', () => {
	let sandbox: Sandbox;
	beforeAll(async () => {
		sandbox = await startSandbox({ seed: 5 });
	});
	afterAll(async () => sandbox?.close());

	it('Records per Request 10 with 5 % dropped/duplicated/swapped records: every item answered with its own answer, cache on, report shows the savings', async () => {
		sandbox.configure({ groupFaults: { drop: 0.05, duplicate: 0.05, swap: 0.05 } });
		sandbox.reset();
		const input = tickets(300);
		const { items, run } = await runWorkflow(
			workflow(
				{ options: { recordsPerRequest: 10, progressIntervalSeconds: 0 } },
				{ llmBatchOpenAiApi: { id: '1', name: 'sandbox' } },
			),
			{ input, credentials: { llmBatchOpenAiApi: { apiKey: 'k', baseUrl: `${sandbox.url}/v1` } } },
		);
		expect(run.status).toBe('success');
		const success = items('LLM Batch Call', 0);
		expect(items('LLM Batch Call', 1)).toHaveLength(0);
		expect(success.map((s) => (s.pairedItem as { item: number }).item)).toEqual([
			...Array(300).keys(),
		]);
		let misattributed = 0;
		for (const s of success) {
			const i = (s.pairedItem as { item: number }).item;
			const llm = s.json.llm as { recordId: string; output: unknown };
			if (
				llm.recordId !== input[i].json.id ||
				JSON.stringify(llm.output) !==
					JSON.stringify(expectedReply({ prompt: input[i].json.text, schema: SCHEMA }).output)
			)
				misattributed++;
		}
		expect(misattributed).toBe(0);
		const st = sandbox.stats();
		expect(st.groupFaults.drop + st.groupFaults.duplicate + st.groupFaults.swap).toBeGreaterThan(0);
		expect(st.cacheReadTokens).toBeGreaterThan(0);
		const report = items('Batch Report', 0)[0].json as Record<string, unknown>;
		const cache = report.cache as { readTokens: number; writeTokens: number; savedUsd: number };
		expect(cache.readTokens).toBe(st.cacheReadTokens);
		expect(cache.savedUsd).toBeGreaterThan(0);
		expect(report.markdown).toMatch(
			/\| prompt cache \| \d+ tokens read, \d+ written, \$[\d.]+ saved \|/,
		);
	});

	it('Anthropic: the cached run costs the reported usage priced by the cache rules', async () => {
		sandbox.configure({ groupFaults: {} });
		sandbox.reset();
		const { items } = await runWorkflow(
			workflow(
				{
					provider: 'anthropic',
					model: 'claude-sonnet-4',
					options: { progressIntervalSeconds: 0, promptCaching: '1h' },
				},
				{ llmBatchAnthropicApi: { id: '1', name: 'sandbox' } },
			),
			{
				input: tickets(50),
				credentials: { llmBatchAnthropicApi: { apiKey: 'k', baseUrl: sandbox.url } },
			},
		);
		const success = items('LLM Batch Call', 0);
		expect(success).toHaveLength(50);
		const usages = success.map(
			(s) =>
				(s.json.llm as { usage: { cacheWrite1hTokens?: number; cachedInputTokens?: number } })
					.usage,
		);
		expect(usages.filter((u) => u.cacheWrite1hTokens).length).toBe(1);
		expect(usages.filter((u) => u.cachedInputTokens).length).toBe(49);
		const cost = success.reduce((a, s) => a + (s.json.llm as { costUsd: number }).costUsd, 0);
		const uncached = success.reduce(
			(a, s) =>
				a +
				costUsd('claude-sonnet-4', {
					...(s.json.llm as { usage: { inputTokens: number; outputTokens: number } }).usage,
					cachedInputTokens: 0,
					cacheWriteTokens: 0,
					cacheWrite1hTokens: 0,
				})!,
			0,
		);
		expect(cost / uncached).toBeLessThan(0.4);
	});

	it('Re-ask from a workflow loop: Failed (schema_violation, answer kept) back into LLM Batch Call is re-asked, not called fresh', async () => {
		sandbox.configure({ groupFaults: {}, faults: { schemaViolation: 1 } });
		sandbox.reset();
		const wf = workflow(
			{ systemPrompt: 'Classify.', options: { progressIntervalSeconds: 0, maxReasks: 0 } },
			{ llmBatchOpenAiApi: { id: '1', name: 'sandbox' } },
		);
		// Failed loops back into the node
		wf.connections['LLM Batch Call'].main[1] = [{ node: 'LLM Batch Call', type: 'main', index: 0 }];
		const input = tickets(20);
		const { items, run } = await runWorkflow(wf, {
			input,
			credentials: { llmBatchOpenAiApi: { apiKey: 'k', baseUrl: `${sandbox.url}/v1` } },
		});
		expect(run.status).toBe('success');
		// first run: all 20 failed with the answer kept; second run: re-asked, all answered
		const runs = run.data.resultData.runData['LLM Batch Call'];
		expect(runs).toHaveLength(2);
		const firstFailed = runs[0].data!.main[1]!;
		expect(firstFailed).toHaveLength(20);
		expect((firstFailed[0].json.error as { code: string; answer: string }).code).toBe(
			'schema_violation',
		);
		expect(typeof (firstFailed[0].json.error as { answer: string }).answer).toBe('string');
		const success = runs[1].data!.main[0]!;
		expect(success).toHaveLength(20);
		for (const s of success) {
			const llm = s.json.llm as {
				output: unknown;
				attempts: number;
				reasks: number;
				recordId: string;
			};
			const original = input.find((i) => i.json.id === llm.recordId)!;
			expect(llm.output).toEqual(
				expectedReply({ prompt: original.json.text, schema: SCHEMA }).output,
			);
			expect(llm).toMatchObject({ attempts: 2, reasks: 1 });
		}
		// 40 requests: 20 first answers + 20 re-ask turns, no fresh calls
		expect(sandbox.stats().accepted).toBe(40);
		expect(runs[1].data!.main[1] ?? []).toHaveLength(0);
		expect(items('LLM Batch Call', 0)).toHaveLength(20);
		sandbox.configure({ faults: {} });
	});

	it('Fallback chain: primary overloaded on half the requests, every item answered, answers per model in the report', async () => {
		sandbox.configure({ faults: {}, modelFaults: { 'claude-sonnet-4': { status529: 0.5 } } });
		sandbox.reset();
		const wf = workflow(
			{
				provider: 'anthropic',
				model: 'claude-sonnet-4',
				systemPrompt: 'Classify.',
				fallbackProvider: 'openai',
				fallbackModels: 'gpt-4o-mini',
				options: { progressIntervalSeconds: 0 },
			},
			{ llmBatchAnthropicApi: { id: '1', name: 'a' }, llmBatchFallbackApi: { id: '2', name: 'f' } },
		);
		const { items, run } = await runWorkflow(wf, {
			input: tickets(100),
			credentials: {
				llmBatchAnthropicApi: { apiKey: 'k', baseUrl: sandbox.url },
				llmBatchFallbackApi: { apiKey: 'k', baseUrl: `${sandbox.url}/v1` },
			},
		});
		expect(run.data.resultData.error?.message).toBeUndefined();
		expect(items('LLM Batch Call', 0)).toHaveLength(100);
		expect(items('LLM Batch Call', 1)).toHaveLength(0);
		const report = items('Batch Report', 0)[0].json as { answersByModel: Record<string, number> };
		const st = sandbox.stats();
		expect(report.answersByModel).toEqual({
			'claude-sonnet-4': 100 - st.faults.status529,
			'gpt-4o-mini': st.faults.status529,
		});
		expect(st.faults.status529).toBeGreaterThan(30);
		sandbox.configure({ modelFaults: {} });
	});

	it('example 01 (sample gate): Estimate runs, the sample is projected onto the full count, the IF sees overBudget', async () => {
		sandbox.configure({ faults: {}, groupFaults: {}, modelFaults: {} });
		sandbox.reset();
		const wf = JSON.parse(
			readFileSync(
				join(__dirname, '..', '..', 'examples', '01-nightly-ticket-classification.json'),
				'utf8',
			),
		) as WorkflowJson;
		// The gate only (examples.test.ts runs the whole of example 01).
		delete (wf.connections as Record<string, unknown>)['Over budget?'];
		for (const n of wf.nodes)
			if (n.type === 'n8n-nodes-llm-batch.llmBatchCall')
				n.parameters = { ...n.parameters, requestsPerMinute: 60_000, tokensPerMinute: 50_000_000 };
		const records = Array.from({ length: 2000 }, (_, i) => ({
			json: {
				ticketId: `T${i}`,
				customerId: `C${i % 7}`,
				subject: `Ticket ${i}`,
				body: `Refund for invoice ${i} please.`,
			},
		}));
		const r = await runWorkflow(wf, {
			credentials: { llmBatchOpenAiApi: { apiKey: 'k', baseUrl: `${sandbox.url}/v1` } },
			pinData: { 'Open tickets': records },
		});
		expect(r.run.data.resultData.error?.message).toBeUndefined();
		const estimate = r.items('Estimate the full run', 0);
		expect(estimate.length).toBeGreaterThan(0);
		// 50 sampled tickets, one request each (the sample has the full run's settings)
		expect(r.items('LLM Batch Call (sample)', 0)).toHaveLength(50);
		expect(sandbox.stats().accepted).toBe(50);
		const [report] = r.items('Project the full run', 0);
		const projection = report.json.projection as {
			items: number;
			sampleItems: number;
			costUsd: number;
			overBudget: boolean;
			budgetUsd: number;
		};
		expect(projection).toMatchObject({ items: 2000, sampleItems: 50, budgetUsd: 5 });
		const sampleCost = r
			.items('LLM Batch Call (sample)', 0)
			.reduce((a, it) => a + (it.json.llm as { costUsd: number }).costUsd, 0);
		expect(projection.costUsd).toBeCloseTo(sampleCost * 40, 6);
		expect(projection.overBudget).toBe(projection.costUsd > 5);
		expect(r.items('Over budget?', projection.overBudget ? 0 : 1)).toHaveLength(1);
	});
});
