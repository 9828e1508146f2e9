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
	ledger = join(mkdtempSync(join(tmpdir(), 'llm-batch-job-node-')), 'ledger.sqlite');
	sandbox.batch.reset();
});

function creds() {
	return { llmBatchOpenAiApi: { apiKey: 'sk-test-SECRET', baseUrl: `${sandbox.url}/v1` } };
}

function run(operation: string, extra: Record<string, unknown> = {}, items: IDataObject[] = [{}]) {
	const options: MockOptions = {
		items,
		credentials: creds(),
		parameters: {
			operation,
			provider: 'openai',
			jobName: 'tickets',
			ledgerStore: 'sqlite',
			ledgerSqlitePath: ledger,
			model: 'gpt-4o-mini',
			systemPrompt: 'Classify.',
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

describe('LLM Batch Job node', () => {
	it('Submit: bad items go to Failed before upload, one item per provider batch with the records it holds', async () => {
		const items = [...tickets(7), { id: 'T1', text: 'same ID again' }, { id: 'T9', text: '' }];
		const { m, out } = run('submit', { options: { batchSize: 3 } }, items);
		const [batches, failed] = await out;
		expect(batches.map((b) => [b.json.requestCount, b.pairedItem])).toEqual([
			[3, [{ item: 0 }, { item: 1 }, { item: 2 }]],
			[3, [{ item: 3 }, { item: 4 }, { item: 5 }]],
			[1, [{ item: 6 }]],
		]);
		expect(batches[0].json).toMatchObject({
			job: 'tickets',
			provider: 'openai',
			state: 'in_progress',
		});
		expect(typeof batches[0].json.expiresAt).toBe('string');
		expect(failed.map((f) => [f.pairedItem, (f.json.error as { code: string }).code])).toEqual([
			[{ item: 7 }, 'duplicate'],
			[{ item: 8 }, 'invalid_input'],
		]);
		expect(failed[1].json).toMatchObject({ id: 'T9', text: '' });
		expect(sandbox.batch.stats().requestsReceived).toBe(7);
		expect(JSON.stringify([batches, failed, m.hints])).not.toContain('SECRET');
	});

	it('Submit with only bad items uploads nothing', async () => {
		const [batches, failed] = await run('submit', {}, [{ id: 'A', text: '' }]).out;
		expect(batches).toEqual([]);
		expect(failed).toHaveLength(1);
		expect(sandbox.batch.stats().batchesCreated.openai).toBe(0);
	});

	it('an empty Job Name or a bad Deadline is a configuration error before any call', async () => {
		await expect(run('submit', { jobName: ' ' }, tickets(2)).out).rejects.toThrow(
			NodeOperationError,
		);
		await expect(
			run('collect', { collectOptions: { deadline: 'tomorrow-ish' } }).out,
		).rejects.toThrow(/Deadline is not a date/);
		await expect(run('collect', { resultField: 'error' }).out).rejects.toThrow(/reserved/);
		expect(sandbox.batch.stats().requestsReceived).toBe(0);
	});

	it('Check Status: one summary item saying whether all ended, one item per batch; Collect: each record once with the LLM Batch Call contract at the batch price', async () => {
		const items = [...tickets(4), { id: 'BAD', text: 'please fail [[sandbox:status400]]' }];
		await run('submit', { options: { batchSize: 3 } }, items).out;

		let [summary, perBatch] = await run('status').out;
		expect(summary).toHaveLength(1);
		expect(summary[0].json).toMatchObject({
			job: 'tickets',
			batches: 2,
			ended: 0,
			allEnded: false,
		});
		expect(perBatch.map((b) => b.json.state)).toEqual(['in_progress', 'in_progress']);

		t += 60_000;
		[summary, perBatch] = await run('status').out;
		expect(summary[0].json).toMatchObject({
			batches: 2,
			ended: 2,
			allEnded: true,
			deadlineReached: false,
		});
		expect(summary[0].json.counts).toMatchObject({
			total: 5,
			succeeded: 4,
			errored: 1,
			processing: 0,
		});

		const [success, failed] = await run('collect', { resultField: 'llm' }).out;
		expect(success.map((s) => s.json.id).sort()).toEqual(['T0', 'T1', 'T2', 'T3']);
		for (const s of success) {
			const llm = s.json.llm as Record<string, unknown>;
			expect(s.pairedItem).toEqual({ item: 0 });
			expect(s.json.text).toBe(`Ticket ${String(s.json.id).slice(1)}: refund`);
			expect(llm.output).toEqual(
				expectedReply({ prompt: String(s.json.text), schema: SCHEMA }).output,
			);
			expect(llm).toMatchObject({
				recordId: s.json.id,
				provider: 'openai',
				model: 'gpt-4o-mini',
				cached: false,
				attempts: 1,
			});
			expect(llm.costUsd).toBe(costUsd('gpt-4o-mini', llm.usage as never, { batch: true }));
			expect(String(llm.batchId)).toMatch(/^batch_/);
		}
		expect(failed).toHaveLength(1);
		expect(failed[0].json).toMatchObject({
			id: 'BAD',
			error: { code: 'invalid_request', retryable: false, status: 400, recordId: 'BAD' },
		});

		// Collecting twice emits nothing new; asked to, it re-emits from the ledger.
		expect(await run('collect').out).toEqual([[], []]);
		const [again, againFailed] = await run('collect', { collectOptions: { reEmit: true } }).out;
		expect(again.map((s) => s.json.llm)).toEqual(
			expect.arrayContaining(success.map((s) => s.json.llm)),
		);
		expect([again.length, againFailed.length]).toEqual([4, 1]);
		// Submitting the same items again sends nothing: four succeeded, the failed one is new work.
		const [batches2] = await run('submit', {}, tickets(4)).out;
		expect(batches2.map((b) => b.json)).toEqual([
			{
				job: 'tickets',
				batchId: null,
				skipped: 4,
				alreadySucceeded: 4,
				inLiveBatch: 0,
				awaitingCreate: 0,
				notRetryable: 0,
				overLimit: 0,
			},
		]);
	});

	it('Collect stamps what it emits as a run of its own: Batch Report waits for exactly these items, not for the ones Submit refused', async () => {
		// Batch Prepare counted 6 (one stamp per item); Submit refuses one before upload.
		const prepared = [...tickets(5), { id: 'EMPTY', text: '' }].map((json, seq) => ({
			...json,
			batchRun: {
				id: 'prep-1',
				total: 6,
				seq,
				startedAt: `2026-01-01T01:0${seq}:00.000Z`,
			},
		}));
		await run('submit', {}, [
			...prepared.slice(0, 4),
			{ ...prepared[4], text: 'x [[sandbox:status400]]' },
			prepared[5],
		]).out;
		t += 60_000;
		const [success, failed] = await run('collect').out;
		expect([success.length, failed.length]).toEqual([4, 1]);
		const stamps = [...success, ...failed].map((item) => item.json.batchRun);
		expect(stamps).toEqual(
			[0, 1, 2, 3, 4].map((seq) => ({
				id: expect.stringMatching(/^exec-1-[0-9a-f]{8}$/),
				total: 5,
				seq,
				startedAt: '2026-01-01T01:00:00.000Z',
			})),
		);
		expect(new Set(stamps.map((s) => (s as { id: string }).id)).size).toBe(1);
		// Items that never had a stamp get one too, started when Collect ran.
		const { out } = run('submit', {}, [{ id: 'N1', text: 'Ticket N1' }]);
		await out;
		t += 60_000;
		const [plain] = await run('collect').out;
		expect(plain.map((item) => item.json.batchRun)).toEqual([
			{
				id: expect.stringMatching(/^exec-1-/),
				total: 1,
				seq: 0,
				startedAt: new Date(t).toISOString(),
			},
		]);
	});

	it('Cancel and Resubmit: what finished is collected, canceled lines come back retryable and go again as a new batch; invalid requests do not', async () => {
		const items = [...tickets(9), { id: 'BAD', text: 'x [[sandbox:status400]]' }];
		await run('submit', {}, items).out;
		t += 30_000;
		const [canceled] = await run('cancel').out;
		expect(canceled.map((b) => b.json.state)).toEqual(['ended']);
		const [success, failed] = await run('collect').out;
		expect(success.length + failed.length).toBe(10);
		expect(success.length).toBeGreaterThan(0);
		const canceledCount = failed.filter(
			(f) => (f.json.error as { code: string }).code === 'canceled',
		).length;
		expect(canceledCount).toBe(10 - 5);

		const [resubmitted] = await run('resubmit', { maxSubmissions: 2 }).out;
		// Canceled lines go again (BAD too if the cancel came before it); a finished invalid request does not.
		const badCanceled = failed.some(
			(f) => f.json.id === 'BAD' && (f.json.error as { code: string }).code === 'canceled',
		);
		expect(resubmitted.map((b) => [b.json.round, b.json.requestCount])).toEqual([
			[2, canceledCount],
		]);
		t += 60_000;
		const [s2, f2] = await run('collect').out;
		expect(s2.length + f2.length).toBe(canceledCount);
		expect(f2.map((f) => [f.json.id, (f.json.error as { code: string }).code])).toEqual(
			badCanceled ? [['BAD', 'invalid_request']] : [],
		);
		// The limit: nothing left that may go again.
		expect((await run('resubmit', { maxSubmissions: 2 }).out)[0]).toEqual([]);
	});
});
