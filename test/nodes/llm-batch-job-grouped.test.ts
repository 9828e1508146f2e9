/**
 * LLM Batch Job's Records per Request and Prompt Caching options at the node: bad values are a
 * configuration error before any call; Submit packs records into request lines and says so;
 * Collect emits one item per record with its own answer, its share of the cost and its group's
 * size, and says what became of the grouped requests.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NodeOperationError, type IDataObject } from 'n8n-workflow';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import { costUsd } from '../../core/cost';
import type { Clock } from '../../core/types';
import { router } from '../../nodes/LlmBatchJob/actions/router';
import { expectedReply, startSandbox, type Sandbox } from '../../sandbox/server';
import { mockExecute, type MockOptions } from '../helpers/mock-execute';

const SCHEMA = {
	type: 'object',
	properties: { category: { type: 'string' }, echo: { type: 'string' } },
	required: ['category', 'echo'],
};

let sandbox: Sandbox;
let t = Date.parse('2026-01-01T02:00:00Z');
const clock: Clock = { now: () => t, sleep: async () => undefined, random: () => 0.5 };
let ledger: string;

beforeAll(async () => {
	sandbox = await startSandbox({ now: () => t, batch: { processingMs: 60_000 } });
});
afterAll(async () => {
	await sandbox.close();
});
beforeEach(() => {
	ledger = join(mkdtempSync(join(tmpdir(), 'llm-batch-job-grouped-')), 'ledger.sqlite');
	sandbox.batch.reset();
});

function run(operation: string, extra: Record<string, unknown> = {}, items: IDataObject[] = [{}]) {
	const options: MockOptions = {
		items,
		credentials: {
			llmBatchAnthropicApi: { apiKey: 'sk-test-SECRET', baseUrl: sandbox.url },
		},
		parameters: {
			operation,
			provider: 'anthropic',
			jobName: 'tickets',
			ledgerStore: 'sqlite',
			ledgerSqlitePath: ledger,
			model: 'claude-3-5-haiku-latest',
			systemPrompt: 'Classify the ticket. '.repeat(600),
			prompt: (_i: number, item: { json: Record<string, unknown> }) => item.json.text,
			recordId: (_i: number, item: { json: Record<string, unknown> }) => item.json.id,
			outputFormat: 'json',
			jsonSchema: JSON.stringify(SCHEMA),
			options: {},
			...extra,
		},
	};
	const m = mockExecute(options);
	return { m, out: router(m.fns, { clock }) };
}

const tickets = (n: number) =>
	Array.from({ length: n }, (_, i) => ({ id: `T${i}`, text: `Ticket ${i}: refund` }));

describe('LLM Batch Job node: Records per Request and Prompt Caching', () => {
	it.each([0, 101, 2.5])(
		'Records per Request %s: a configuration error, nothing sent',
		async (n) => {
			await expect(
				run('submit', { options: { recordsPerRequest: n } }, tickets(3)).out,
			).rejects.toThrow(NodeOperationError);
			expect(sandbox.batch.stats().requestsReceived).toBe(0);
		},
	);

	it('Submit groups 23 records 10 per request (3 lines); Collect emits each with its own answer, its share of the cost and the cache reads, paired with its own item', async () => {
		const items = tickets(23);
		const sub = run('submit', { options: { recordsPerRequest: 10 } }, items);
		const [batches, failed] = await sub.out;
		expect(failed).toEqual([]);
		expect(batches.map((b) => b.json.requestCount)).toEqual([23]);
		expect(sandbox.batch.stats().requestsReceived).toBe(3);
		expect(sub.m.hints.map((h) => h.message).join(' ')).toContain(
			'(3 request line(s): 10 records per request)',
		);

		t += 60_000;
		const col = run('collect');
		const [success, bad] = await col.out;
		expect(bad).toEqual([]);
		expect(success.map((s) => s.json.id)).toHaveLength(23);
		let paid = 0;
		for (const s of success) {
			const llm = s.json.llm as {
				recordId: string;
				output: unknown;
				groupSize: number;
				costUsd: number;
				usage: { inputTokens: number; outputTokens: number; cachedInputTokens?: number };
			};
			expect(llm.recordId).toBe(s.json.id);
			expect(llm.output).toEqual(
				expectedReply({ prompt: String(s.json.text), schema: SCHEMA }).output,
			);
			expect(llm.groupSize).toBe(Number(String(s.json.id).slice(1)) >= 20 ? 3 : 10);
			expect(s.pairedItem).toEqual({ item: 0 });
			expect(llm.costUsd).toBeCloseTo(
				costUsd('claude-3-5-haiku-latest', llm.usage, { batch: true })!,
				12,
			);
			paid += llm.costUsd;
		}
		const billed = sandbox.batch.stats().billed;
		expect(billed.cacheReadTokens).toBeGreaterThan(0);
		expect(paid).toBeCloseTo(
			costUsd(
				'claude-3-5-haiku-latest',
				{
					inputTokens: billed.inputTokens,
					outputTokens: billed.outputTokens,
					cachedInputTokens: billed.cacheReadTokens,
					cacheWriteTokens: billed.cacheWriteTokens,
				},
				{ batch: true },
			)!,
			9,
		);
		expect(col.m.hints.map((h) => h.message).join(' ')).toContain(
			'3 grouped request(s) read: 23 record(s) answered from them',
		);
	});

	it('Prompt Caching Off: no cache_control in the batch requests, nothing read from the cache', async () => {
		await run('submit', { options: { recordsPerRequest: 10, promptCaching: 'off' } }, tickets(20))
			.out;
		t += 60_000;
		const [success] = await run('collect').out;
		expect(success).toHaveLength(20);
		expect(sandbox.batch.stats().billed.cacheReadTokens).toBe(0);
		expect(sandbox.batch.stats().billed.cacheWriteTokens).toBe(0);
	});
});
