/**
 * A record's files come back on Collect in a later execution: Submit keeps each record's
 * binary data in the ledger (content-addressed, once per file), Collect in another execution
 * (a fresh node context, no run data) gives every record its own files back on Success and
 * Failed, Resubmit sends a record's document again from the ledger, and Batch Ledger's Delete
 * Job removes the files no other job refers to — SQLite and PostgreSQL.
 */
import type { IBinaryData, IDataObject, INodeExecutionData } from 'n8n-workflow';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import type { Clock } from '../../core/types';
import { router as ledgerRouter } from '../../nodes/BatchLedger/actions/router';
import { router } from '../../nodes/LlmBatchJob/actions/router';
import { startSandbox, type Sandbox } from '../../sandbox/server';
import { mockExecute } from '../helpers/mock-execute';
import { INVOICE_SCHEMA, invoicePdf, makePng } from '../helpers/pdf';
import { freshLedger, type Ledger } from '../promises/submit-helpers';
import { keptFileCount } from '../core/batch-api/store/files-fixtures';

let sandbox: Sandbox;
let t = Date.parse('2026-01-01T02:00:00Z');
const clock: Clock = { now: () => t, sleep: async () => undefined, random: () => 0.5 };

beforeAll(async () => {
	sandbox = await startSandbox({ now: () => t, batch: { processingMs: 60_000 } });
});
afterAll(async () => sandbox.close());
beforeEach(() => {
	sandbox.batch.reset();
	sandbox.batch.configure({ processingMs: 60_000, expiresAfterMs: 24 * 60 * 60 * 1000 });
});

/** A file as n8n's default binary mode holds it: base64 in `data`, with its metadata. */
function binaryOf(buf: Buffer, fileName: string, mimeType: string): IBinaryData {
	return {
		data: buf.toString('base64'),
		mimeType,
		fileName,
		fileExtension: fileName.split('.').pop(),
		fileSize: `${buf.length} B`,
	};
}

/** Invoice items inv-<n>, each with its own PDF in `data`. */
function invoices(ns: readonly number[]): INodeExecutionData[] {
	return ns.map((n) => ({
		json: { id: `inv-${n}` },
		binary: { data: binaryOf(invoicePdf(n).pdf, `inv-${n}.pdf`, 'application/pdf') },
	}));
}

const HOUR = 60 * 60 * 1000;

/** One execution of the node: a fresh context (no run data of any other execution). */
function execution(
	ledger: Ledger,
	job: string,
	operation: string,
	inputs: INodeExecutionData[],
	extra: Record<string, unknown> = {},
	hints: Array<{ message: string }> = [],
) {
	const m = mockExecute({
		inputs: [inputs],
		credentials: {
			llmBatchOpenAiApi: { apiKey: 'sk-test', baseUrl: `${sandbox.url}/v1` },
			...ledger.credentials,
		},
		parameters: {
			operation,
			provider: 'openai',
			jobName: job,
			...ledger.params,
			model: 'gpt-4o-mini',
			systemPrompt: '',
			prompt: 'Extract the invoice fields.',
			recordId: (_i: number, item: { json: Record<string, unknown> }) => item.json.id,
			outputFormat: 'json',
			jsonSchema: JSON.stringify(INVOICE_SCHEMA),
			options: { attachments: 'data' },
			resultField: 'llm',
			collectOptions: {},
			...extra,
		},
	});
	return router(m.fns, { clock }).finally(() => hints.push(...m.hints));
}

const trigger: INodeExecutionData[] = [{ json: {} }];

/** Output items by record ID: their binary and pairing. */
const byId = (items: INodeExecutionData[]) =>
	Object.fromEntries(
		items.map((i) => [String(i.json.id), { binary: i.binary, pairedItem: i.pairedItem }]),
	);

describe.each(['sqlite', 'postgres'] as const)(
	'LLM Batch Job: files kept for a Collect in another execution (%s)',
	(kind) => {
		it('Submit in execution A, Collect in execution B: 3 of 3 Success items carry their own file (and again when re-emitted)', async () => {
			const ledger = await freshLedger(kind, 'filekeep');
			const inputs = invoices([1, 2, 3]);
			const [batches, refused] = await execution(ledger, 'files-a', 'submit', inputs);
			expect(refused).toEqual([]);
			expect(batches.map((b) => b.json.requestCount)).toEqual([3]);
			t += 2 * HOUR;
			const hints: Array<{ message: string }> = [];
			const [success, failed] = await execution(ledger, 'files-a', 'collect', trigger, {}, hints);
			expect(failed).toEqual([]);
			expect(hints[0].message).toBe(
				'Job files-a: 3 succeeded, 0 failed from 1 batch(es); 3 record(s) got their files back from the ledger',
			);
			expect(byId(success)).toEqual(
				Object.fromEntries(
					inputs.map((i) => [i.json.id, { binary: i.binary, pairedItem: { item: 0 } }]),
				),
			);
			for (const s of success) {
				const n = Number(String(s.json.id).slice(4));
				expect((s.json.llm as { output: unknown }).output).toEqual(invoicePdf(n).invoice);
			}
			// Execution C re-emits them from the ledger: with their files again.
			const [again] = await execution(ledger, 'files-a', 'collect', trigger, {
				collectOptions: { reEmit: true },
			});
			expect(byId(again)).toEqual(byId(success));
		});

		it('an expired record leaves Failed with its file; Resubmit sends its document again from the ledger', async () => {
			const ledger = await freshLedger(kind, 'filekeep');
			const inputs = invoices([4, 5]);
			// Far from done when it expires: neither record gets an answer.
			sandbox.batch.configure({ processingMs: 1000 * HOUR, expiresAfterMs: HOUR });
			await execution(ledger, 'files-b', 'submit', inputs);
			t += 2 * HOUR;
			const [none, expired] = await execution(ledger, 'files-b', 'collect', trigger);
			expect(none).toEqual([]);
			expect(expired.map((f) => (f.json.error as { code: string }).code)).toEqual([
				'expired',
				'expired',
			]);
			expect(byId(expired)).toEqual(
				Object.fromEntries(
					inputs.map((i) => [i.json.id, { binary: i.binary, pairedItem: { item: 0 } }]),
				),
			);

			sandbox.batch.configure({ processingMs: 60_000, expiresAfterMs: 24 * HOUR });
			const before = sandbox.batch.stats().requestsReceived;
			const hints: Array<{ message: string }> = [];
			const [created] = await execution(ledger, 'files-b', 'resubmit', trigger, {}, hints);
			expect(created.map((b) => b.json.requestCount)).toEqual([2]);
			expect(sandbox.batch.stats().requestsReceived).toBe(before + 2);
			expect(hints[0].message).toMatch(/^Job files-b: 2 record\(s\) resubmitted in 1 batch\(es\)/);
			expect(hints[0].message).not.toMatch(/sent with files/);
			t += 2 * HOUR;
			const [success, failed] = await execution(ledger, 'files-b', 'collect', trigger);
			expect(failed).toEqual([]);
			// The sandbox answers from the text of the document it was sent: each its own.
			expect(
				Object.fromEntries(
					success.map((s) => [s.json.id, (s.json.llm as { output: unknown }).output]),
				),
			).toEqual({ 'inv-4': invoicePdf(4).invoice, 'inv-5': invoicePdf(5).invoice });
			expect(byId(success)).toEqual(
				Object.fromEntries(
					inputs.map((i) => [i.json.id, { binary: i.binary, pairedItem: { item: 0 } }]),
				),
			);
		});

		it('binary properties that were not sent come back too; the same file in two records is stored once; Delete Job removes them', async () => {
			const ledger = await freshLedger(kind, 'filekeep');
			const same = invoicePdf(7).pdf;
			const thumb = binaryOf(makePng(4, 4, 'thumb'), 'thumb.png', 'image/png');
			const inputs: INodeExecutionData[] = ['x', 'y'].map((id) => ({
				json: { id, text: `Invoice ${id}` },
				binary: { data: binaryOf(same, 'same.pdf', 'application/pdf'), thumb },
			}));
			await execution(ledger, 'files-c', 'submit', inputs, {
				prompt: (_i: number, item: { json: IDataObject }) => item.json.text,
				outputFormat: 'text',
				options: {},
			});
			expect(await keptFileCount(ledger)).toBe(2);
			t += 2 * HOUR;
			const [success] = await execution(ledger, 'files-c', 'collect', trigger);
			expect(byId(success)).toEqual(
				Object.fromEntries(
					inputs.map((i) => [i.json.id, { binary: i.binary, pairedItem: { item: 0 } }]),
				),
			);

			const exported = await ledgerRun(ledger, 'files-c', { operation: 'exportJob' });
			expect(exported[0]).toHaveLength(2);
			expect(JSON.stringify(exported)).not.toContain(same.toString('base64').slice(0, 40));
			expect(exported[0].every((i) => i.binary === undefined)).toBe(true);

			const [deleted] = await ledgerRun(ledger, 'files-c', { operation: 'deleteJob' });
			expect(deleted[0].json).toEqual({
				job: 'files-c',
				deleted: 2,
				deletedBatches: 1,
				deletedFiles: 2,
			});
			expect(await keptFileCount(ledger)).toBe(0);
		});

		it('Delete Job keeps a file another job still refers to', async () => {
			const ledger = await freshLedger(kind, 'filekeep');
			await execution(ledger, 'files-d1', 'submit', invoices([8, 9]));
			await execution(ledger, 'files-d2', 'submit', invoices([9]));
			expect(await keptFileCount(ledger)).toBe(2);
			const [deleted] = await ledgerRun(ledger, 'files-d1', { operation: 'deleteJob' });
			expect(deleted[0].json.deletedFiles).toBe(1);
			expect(await keptFileCount(ledger)).toBe(1);
			t += 2 * HOUR;
			const [success] = await execution(ledger, 'files-d2', 'collect', trigger);
			expect(byId(success)).toEqual({
				'inv-9': { binary: invoices([9])[0].binary, pairedItem: { item: 0 } },
			});
		});

		it('Keep Files for Collect off: Collect in another execution says per item that its files were not kept', async () => {
			const ledger = await freshLedger(kind, 'filekeep');
			const hints: Array<{ message: string }> = [];
			await execution(
				ledger,
				'files-e',
				'submit',
				invoices([10]),
				{ options: { attachments: 'data', keepFiles: false } },
				hints,
			);
			expect(await keptFileCount(ledger)).toBe(0);
			t += 2 * HOUR;
			const collectHints: Array<{ message: string }> = [];
			const [success] = await execution(ledger, 'files-e', 'collect', trigger, {}, collectHints);
			expect(collectHints[0].message).toMatch(
				/; 0 record\(s\) got their files back from the ledger; 1 file\(s\) not kept by Submit, named in filesNotKept on their items$/,
			);
			expect(success).toHaveLength(1);
			expect(success[0].binary).toBeUndefined();
			expect((success[0].json.llm as { filesNotKept: unknown }).filesNotKept).toEqual([
				{
					property: 'data',
					fileName: 'inv-10.pdf',
					reason: 'Keep Files for Collect was off when it was submitted',
				},
			]);
		});
	},
);

function ledgerRun(ledger: Ledger, job: string, parameters: Record<string, unknown>) {
	const m = mockExecute({
		items: [{}],
		credentials: ledger.credentials,
		parameters: { ...ledger.params, ledgerJob: job, returnAll: true, ...parameters },
	});
	return ledgerRouter(m.fns, {});
}

describe('LLM Batch Job: files kept, in the same execution and when one cannot be kept', () => {
	it('a file that could not be read is named on its record in Collect, and in the Submit hint; the rest come back', async () => {
		const ledger = await freshLedger('sqlite', 'filekeep');
		const inputs = invoices([20]);
		// Metadata without readable bytes: n8n's store lost the file.
		inputs[0].binary!.scan = { mimeType: 'image/png', fileName: 'scan.png' } as IBinaryData;
		const hints: Array<{ message: string }> = [];
		await execution(ledger, 'files-f', 'submit', inputs, {}, hints);
		expect(hints[0].message).toMatch(
			/^1 file\(s\) not kept for Collect \(their records come back without them, saying why\): record inv-20, scan \(scan\.png\): It could not be read when it was submitted/,
		);
		t += 2 * HOUR;
		const [success] = await execution(ledger, 'files-f', 'collect', trigger);
		expect(success).toHaveLength(1);
		expect(success[0].binary).toEqual({ data: inputs[0].binary!.data });
		expect((success[0].json.llm as { filesNotKept: unknown }).filesNotKept).toEqual([
			{
				property: 'scan',
				fileName: 'scan.png',
				reason: expect.stringMatching(/^It could not be read when it was submitted/),
			},
		]);
	});

	it('Collect in the same execution as its Submit takes the files from the run data: none read from the ledger again', async () => {
		const ledger = await freshLedger('sqlite', 'filekeep');
		const inputs = invoices([21, 22]);
		const [batches] = await execution(ledger, 'files-g', 'submit', inputs);
		t += 2 * HOUR;
		const source = { previousNode: 'Read Files', previousNodeOutput: 0, previousNodeRun: 0 };
		const runData = {
			'Read Files': [{ data: { main: [inputs] }, source: [] }],
			Submit: [{ data: { main: [batches, []] }, source: [source] }],
		};
		const m = mockExecute({
			inputs: [batches],
			node: { name: 'Collect', type: 'n8n-nodes-llm-batch.llmBatchJob' },
			credentials: { llmBatchOpenAiApi: { apiKey: 'sk-test', baseUrl: `${sandbox.url}/v1` } },
			parameters: {
				operation: 'collect',
				provider: 'openai',
				jobName: 'files-g',
				...ledger.params,
				resultField: 'llm',
				collectOptions: {},
			},
		});
		let prepared = 0;
		const helpers = m.fns.helpers as unknown as Record<string, (...a: unknown[]) => unknown>;
		const prepare = helpers.prepareBinaryData;
		helpers.prepareBinaryData = (...a: unknown[]) => {
			prepared++;
			return prepare(...a);
		};
		Object.assign(m.fns, {
			runExecutionData: { resultData: { runData } },
			getParentNodes: () => [
				{
					name: 'Submit',
					type: 'n8n-nodes-llm-batch.llmBatchJob',
					parameters: { operation: 'submit' },
				},
			],
		});
		const [success] = await router(m.fns, { clock });
		expect(prepared).toBe(0);
		// The very objects of the run data: no second copy.
		expect(
			success.map((s) => s.binary).sort((a, b) => (a!.data.fileName! < b!.data.fileName! ? -1 : 1)),
		).toEqual(inputs.map((i) => i.binary));
		for (const s of success) expect(inputs.some((i) => i.binary === s.binary)).toBe(true);
	});
});
