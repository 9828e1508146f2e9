/**
 * LLM Batch Call with its default options through n8n-core's WorkflowExecute against
 * the sandbox's `incident` profile (16 % mixed transient faults: 500, 503, connection resets,
 * spurious 429s, malformed JSON). The breaker must not mistake the noise for an outage, and
 * no item may be lost to it: seed 45 gives item 180 six attempt-consuming faults in a row
 * (more than Max Attempts), which the second pass recovers.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { resetSharedFlow } from '../../core/call/limiter/in-process';
import { expectedReply, startSandbox, type Sandbox } from '../../sandbox/server';
import { linearWorkflow, llmBatchCallStep } from '../../scripts/lib/workflow-builder';
import { runWorkflow } from '../helpers/harness';

const SCHEMA = {
	type: 'object',
	properties: {
		category: { type: 'string', enum: ['billing', 'bug', 'feature', 'other'] },
		echo: { type: 'string' },
	},
	required: ['category', 'echo'],
};

describe('LLM Batch Call under the incident profile (WorkflowExecute, node defaults)', () => {
	let sandbox: Sandbox;
	beforeAll(async () => {
		resetSharedFlow();
		sandbox = await startSandbox({
			profile: 'incident',
			seed: 45,
			rpm: 30_000,
			latencyMs: { min: 0, max: 3 },
		});
	});
	afterAll(async () => sandbox?.close());

	it('every item succeeds, in exactly one output, each answer its own, no breaker pause', async () => {
		const input = Array.from({ length: 1000 }, (_, i) => ({
			json: { id: `T${String(i).padStart(5, '0')}`, text: `Ticket ${i}: refund order ${i * 13}` },
		}));
		const workflow = linearWorkflow(
			llmBatchCallStep({
				model: 'gpt-4o-mini',
				prompt: '={{ $json.text }}',
				recordId: '={{ $json.id }}',
				outputFormat: 'json',
				jsonSchema: JSON.stringify(SCHEMA),
				concurrency: 16,
				requestsPerMinute: 30_000,
				tokensPerMinute: 50_000_000,
				options: { progressIntervalSeconds: 0 },
			}),
		);
		const { items, run, hints } = await runWorkflow(workflow, {
			input,
			credentials: { llmBatchOpenAiApi: { apiKey: 'k', baseUrl: `${sandbox.url}/v1` } },
		});
		expect(run.status).toBe('success');
		const success = items('LLM Batch Call', 0);
		const failed = items('LLM Batch Call', 1);
		expect(success.length + failed.length).toBe(1000);
		expect(
			[...success, ...failed]
				.map((it) => (it.pairedItem as { item: number }).item)
				.sort((a, b) => a - b),
		).toEqual([...Array(1000).keys()]);
		for (const it of success) {
			const i = (it.pairedItem as { item: number }).item;
			const llm = it.json.llm as { recordId: string; output: unknown };
			expect(it.json.id).toBe(input[i].json.id);
			expect(llm.recordId).toBe(input[i].json.id);
			expect(llm.output).toEqual(
				expectedReply({ prompt: input[i].json.text, schema: SCHEMA }).output,
			);
		}
		// every fault is transient, so every item succeeds (none lost to bad luck, none circuit_open)
		expect(failed.map((it) => it.json.error)).toEqual([]);
		expect(success.length).toBe(1000);
		const unlucky = success.find((it) => it.json.id === 'T00180')!.json.llm as { attempts: number };
		expect(unlucky.attempts).toBeGreaterThan(5);
		const s = sandbox.stats();
		const faulted = Object.values(s.faults).reduce((a, b) => a + b, 0);
		expect(faulted / s.accepted).toBeGreaterThanOrEqual(0.12);
		expect(s.duplicateSuccesses).toBe(0);
		expect(s.paidSuccesses).toBe(success.length);
		const hint = hints['LLM Batch Call']?.[0]?.message ?? '';
		expect(hint).toContain(`${success.length} of 1000 items succeeded`);
		expect(hint).not.toMatch(/outage|stopped early/);
	});
});
