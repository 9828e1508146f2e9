import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { INodeExecutionData } from 'n8n-workflow';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import type { Clock } from '../../core/types';
import { router } from '../../nodes/LlmBatchJob/actions/router';
import { startSandbox, type Sandbox } from '../../sandbox/server';
import { mockExecute } from '../helpers/mock-execute';
import { INVOICE_SCHEMA, invoicePdf, makePdf, makePng } from '../helpers/pdf';

let sandbox: Sandbox;
let t = Date.parse('2026-01-01T02:00:00Z');
const clock: Clock = { now: () => t, sleep: async () => undefined, random: () => 0.5 };
let ledger: string;

beforeAll(async () => {
	sandbox = await startSandbox({ now: () => t, batch: { processingMs: 60_000 } });
});
afterAll(async () => sandbox.close());
beforeEach(() => {
	ledger = join(mkdtempSync(join(tmpdir(), 'llm-batch-job-files-')), 'ledger.sqlite');
	sandbox.batch.reset();
});

const bin = (buf: Buffer, fileName: string) => ({
	data: { data: buf.toString('base64'), mimeType: 'application/pdf', fileName },
});

function inputs(): INodeExecutionData[] {
	const good = Array.from({ length: 6 }, (_, n) => ({
		json: { id: `inv-${n}` },
		binary: bin(invoicePdf(n).pdf, `inv-${n}.pdf`),
	}));
	return [
		...good,
		{ json: { id: 'png-named-pdf' }, binary: bin(makePng(10, 10), 'scan.pdf') },
		{ json: { id: 'locked' }, binary: bin(makePdf([['x']], { encrypted: true }), 'locked.pdf') },
		{ json: { id: 'empty' }, binary: bin(Buffer.alloc(0), 'empty.pdf') },
	];
}

function run(
	provider: 'openai' | 'anthropic',
	operation: string,
	extra: Record<string, unknown> = {},
	hints: unknown[] = [],
) {
	const m = mockExecute({
		inputs: [inputs()],
		credentials: {
			llmBatchOpenAiApi: { apiKey: 'sk-test', baseUrl: `${sandbox.url}/v1` },
			llmBatchAnthropicApi: { apiKey: 'sk-test', baseUrl: sandbox.url },
		},
		parameters: {
			operation,
			provider,
			jobName: `invoices-${provider}`,
			ledgerStore: 'sqlite',
			ledgerSqlitePath: ledger,
			model: provider === 'openai' ? 'gpt-4o-mini' : 'claude-3-5-haiku-latest',
			systemPrompt: '',
			prompt: 'Extract the invoice fields.',
			recordId: (_i: number, item: { json: Record<string, unknown> }) => item.json.id,
			outputFormat: 'json',
			jsonSchema: JSON.stringify(INVOICE_SCHEMA),
			options: { attachments: 'data' },
			resultField: 'llm',
			...extra,
		},
	});
	return router(m.fns, { clock }).finally(() => hints.push(...m.hints));
}

describe('LLM Batch Job: Attachments', () => {
	for (const provider of ['openai', 'anthropic'] as const) {
		it(`${provider}: the batch lines carry each invoice's file; Collect gives each invoice its own fields; bad files fail before upload`, async () => {
			const [batches, failed] = await run(provider, 'submit');
			expect(batches.map((b) => b.json.requestCount)).toEqual([6]);
			expect(failed.map((f) => [f.json.id, (f.json.error as { code: string }).code])).toEqual([
				['png-named-pdf', 'invalid_input'],
				['locked', 'invalid_input'],
				['empty', 'invalid_input'],
			]);
			expect((failed[1].json.error as { message: string }).message).toMatch(/locked\.pdf/);
			t += 2 * 60 * 60 * 1000;
			const [success, collectFailed] = await run(provider, 'collect');
			expect(collectFailed).toEqual([]);
			expect(success).toHaveLength(6);
			for (const s of success) {
				const id = String(s.json.id);
				expect((s.json.llm as { output: unknown }).output).toEqual(
					invoicePdf(Number(id.slice(4))).invoice,
				);
			}
		});
	}

	it('Resubmit leaves records sent with files alone and says to run Submit again when their files were not kept', async () => {
		sandbox.batch.configure({ processingMs: 100_000, expiresAfterMs: 60_000 });
		try {
			await run('openai', 'submit', { options: { attachments: 'data', keepFiles: false } });
			t += 2 * 60 * 60 * 1000;
			const [, expired] = await run('openai', 'collect');
			const n = expired.length;
			expect(n).toBeGreaterThan(0);
			expect(new Set(expired.map((f) => (f.json.error as { code: string }).code))).toEqual(
				new Set(['expired']),
			);
			const before = sandbox.batch.stats().requestsReceived;
			const hints: Array<{ message: string }> = [];
			const [created] = await run('openai', 'resubmit', {}, hints);
			expect(created).toEqual([]);
			expect(sandbox.batch.stats().requestsReceived).toBe(before);
			expect(hints[0].message).toMatch(
				new RegExp(
					`0 record\\(s\\) resubmitted .*; ${n} sent with files the ledger did not keep \\(Keep Files for Collect was off\\): run Submit again on their items`,
				),
			);
		} finally {
			sandbox.batch.configure({ processingMs: 60_000, expiresAfterMs: 24 * 60 * 60 * 1000 });
		}
	});
});
