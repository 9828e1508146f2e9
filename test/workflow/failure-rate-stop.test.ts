/**
 * Stop When Failures Exceed, measured on the sandbox's `broken-prompt` profile through n8n-core's
 * WorkflowExecute: 5,000 items, and after the first 1,000 calls every answer fails the schema
 * (re-asks too). With the node's default window (more than 50 % of the last 100 answered
 * items), the run stops within that window: what it paid after the break is counted by the
 * sandbox, not by the node, and is at most the window plus the requests in flight.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { resetSharedFlow } from '../../core/call/limiter/in-process';
import { startSandbox, type Sandbox } from '../../sandbox/server';
import { linearWorkflow, llmBatchCallStep } from '../../scripts/lib/workflow-builder';
import { runWorkflow } from '../helpers/harness';

const ITEMS = 5000;
const BREAK_AFTER = 1000;
const WINDOW = 100;
const CONCURRENCY = 16;
const SCHEMA = {
	type: 'object',
	properties: { category: { type: 'string' }, echo: { type: 'string' } },
	required: ['category', 'echo'],
};

describe('a prompt that breaks mid-run stops the run (broken-prompt profile, node defaults)', () => {
	let sandbox: Sandbox;
	beforeAll(async () => {
		sandbox = await startSandbox({ profile: 'broken-prompt', seed: 7, rpm: 1_000_000 });
	});
	afterAll(async () => sandbox?.close());

	async function run(options: Record<string, unknown>) {
		resetSharedFlow();
		sandbox.reset();
		const input = Array.from({ length: ITEMS }, (_, i) => ({
			json: { id: `T${String(i).padStart(5, '0')}`, text: `Ticket ${i}: refund order ${i * 13}` },
		}));
		const workflow = linearWorkflow(
			llmBatchCallStep({
				model: 'gpt-4o-mini',
				prompt: '={{ $json.text }}',
				recordId: '={{ $json.id }}',
				outputFormat: 'json',
				jsonSchema: JSON.stringify(SCHEMA),
				concurrency: CONCURRENCY,
				requestsPerMinute: 1_000_000,
				tokensPerMinute: 1_000_000_000,
				options: { progressIntervalSeconds: 0, ...options },
			}),
		);
		const r = await runWorkflow(workflow, {
			input,
			credentials: { llmBatchOpenAiApi: { apiKey: 'k', baseUrl: `${sandbox.url}/v1` } },
		});
		expect(r.run.status).toBe('success');
		const success = r.items('LLM Batch Call', 0);
		const failed = r.items('LLM Batch Call', 1);
		// every item in exactly one output
		expect(
			[...success, ...failed]
				.map((it) => (it.pairedItem as { item: number }).item)
				.sort((a, b) => a - b),
		).toEqual([...Array(ITEMS).keys()]);
		const errors = failed.map((it) => it.json.error as { code: string; message: string });
		const byCode: Record<string, number> = {};
		for (const e of errors) byCode[e.code] = (byCode[e.code] ?? 0) + 1;
		const stats = sandbox.stats();
		return { success, errors, byCode, stats, hints: r.hints };
	}

	it('one request per item (Max Re-Asks 0): at most window + concurrency items paid after the break', async () => {
		const { success, errors, byCode, stats } = await run({ maxReasks: 0 });
		expect(success).toHaveLength(BREAK_AFTER);
		// the sandbox's own count: every call after the first 1,000 broke the schema
		const paidAfterBreak = stats.accepted - BREAK_AFTER;
		expect(stats.faults.schemaViolation).toBe(paidAfterBreak);
		expect(paidAfterBreak).toBeGreaterThan(WINDOW / 2);
		expect(paidAfterBreak).toBeLessThanOrEqual(WINDOW + CONCURRENCY);
		// each paid broken answer is its item's outcome; the rest were never sent
		expect(byCode).toEqual({
			schema_violation: paidAfterBreak,
			stopped_failure_rate: ITEMS - BREAK_AFTER - paidAfterBreak,
		});
		const stopped = errors.find((e) => e.code === 'stopped_failure_rate')!;
		expect(stopped.message).toMatch(
			/^Not sent: the run stopped \(\d+ of the last 100 answered items failed \(\d+ %, over Stop When Failures Exceed 50 %\), most with schema_violation \(\d+\), e\.g\. "The answer does not match the JSON Schema[^"]*"; fix the prompt, schema or model, then rerun the failed items\)$/,
		);
		console.log(
			`broken prompt, Max Re-Asks 0: ${paidAfterBreak} requests (= items) paid after the break (limit ${WINDOW + CONCURRENCY}); ${byCode.stopped_failure_rate} items not sent`,
		);
	});

	it('with the default re-ask: the same items, each with its one fix call', async () => {
		const { success, errors, byCode, stats } = await run({});
		expect(success).toHaveLength(BREAK_AFTER);
		const paidAfterBreak = stats.accepted - BREAK_AFTER;
		const items = byCode.schema_violation;
		expect(items).toBeLessThanOrEqual(WINDOW + CONCURRENCY);
		// an item's answer, and at most one fix call (none once the run has stopped)
		expect(paidAfterBreak).toBeGreaterThanOrEqual(items);
		expect(paidAfterBreak).toBeLessThanOrEqual(2 * items);
		expect(byCode.stopped_failure_rate).toBe(ITEMS - BREAK_AFTER - items);
		// an answer that came back after the stop keeps its own failure: no stopped item was paid
		for (const e of errors.filter((x) => x.code === 'stopped_failure_rate'))
			expect(e.message).toMatch(/^Not sent: /);
		console.log(
			`broken prompt, Max Re-Asks 1: ${items} items failed schema_violation, ${paidAfterBreak} requests paid after the break; ${byCode.stopped_failure_rate} items not sent`,
		);
	});
});
