/**
 * Example 07 (invoices from PDFs) in a real n8n 2.41.1 through the CLI, as a user runs it: the
 * 02:00 part (Read Files over a folder of PDFs → Batch Prepare → Submit with the files attached)
 * and the 15-minute part (Check Status → Collect → totals → Validate Output → Route Failures →
 * LLM Batch Call with the PDF → Batch Report) as two `n8n execute` runs against the
 * sandbox, which reads each PDF's text and answers with its fields. The batch expires with
 * about two thirds done, so the realtime retry path runs too. The only change to the example
 * is the folder Read Files reads.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { invoicePdf, makePdf, type Invoice } from '../helpers/pdf';
import {
	freshUserFolder,
	n8n,
	outputs,
	printTimings,
	readWorkflow,
	startingAt,
	timed,
	type Execution,
	type Item,
	type Sandbox,
	type WorkflowJson,
} from './harness';
import { expectOneReport } from './report';

const FILE = '07-invoices-from-pdfs.json';
const EXAMPLE_INBOX = '/data/invoices/inbox/';
const GOOD = 12;
const BAD_FILE = 'scan-locked.pdf';
const WRONG_TOTAL_FILE = 'invoice-wrong-total.pdf';
const SERVER_DOWN_FILE = 'invoice-server-down.pdf';

interface Expected {
	invoice: Invoice;
	sha256: string;
}

const sha256 = (buf: Buffer) => createHash('sha256').update(buf).digest('hex');

/** The test's copy of a workflow part, reading its PDFs from `inbox` instead of the example's folder. */
function readingFrom(workflow: WorkflowJson, inbox: string): WorkflowJson {
	const copy = structuredClone(workflow);
	for (const n of copy.nodes.filter((x) => x.type === 'n8n-nodes-base.readWriteFile')) {
		const selector = String(n.parameters.fileSelector);
		if (!selector.includes(EXAMPLE_INBOX))
			throw new Error(`${n.name} does not read ${EXAMPLE_INBOX}: ${selector}`);
		n.parameters.fileSelector = selector.replace(EXAMPLE_INBOX, `${inbox}/`);
	}
	return copy;
}

/** The folder: GOOD invoices of 1–3 pages, one whose printed total is wrong, one encrypted scan. */
function writeInbox(inbox: string): Map<string, Expected> {
	mkdirSync(inbox, { recursive: true });
	const expected = new Map<string, Expected>();
	const put = (file: string, pdf: Buffer, invoice: Invoice) => {
		writeFileSync(path.join(inbox, file), pdf);
		expected.set(file, { invoice, sha256: sha256(pdf) });
	};
	for (let n = 1; n <= GOOD; n++) {
		const { pdf, invoice } = invoicePdf(n, { compress: n % 2 === 0 });
		put(`invoice-${String(n).padStart(3, '0')}.pdf`, pdf, invoice);
	}
	// Printed total 1.00 above lines + VAT: the model reads it as printed, the totals check refuses it.
	const wrong: Invoice = {
		supplier: 'Careless Supplies Ltd',
		invoiceNumber: 'INV-90001',
		date: '2026-11-03',
		dueDate: '2026-12-03',
		vat: 4,
		total: 25,
		lineItems: [{ description: 'Paper', amount: 20 }],
	};
	put(
		WRONG_TOTAL_FILE,
		makePdf([
			[
				`Invoice number: ${wrong.invoiceNumber}`,
				`Supplier: ${wrong.supplier}`,
				`Date: ${wrong.date}`,
				`Due date: ${wrong.dueDate}`,
				'Line: Paper 20.00',
				'VAT: 4.00',
				'Total: 25.00',
			],
		]),
		wrong,
	);
	// The sandbox reads a PDF's text with the prompt: this one makes every answer to it a 500.
	const down = invoicePdf(50);
	put(
		SERVER_DOWN_FILE,
		makePdf([
			[
				`Invoice number: ${down.invoice.invoiceNumber}`,
				`Supplier: ${down.invoice.supplier}`,
				'Note: [[sandbox:status500]]',
			],
		]),
		down.invoice,
	);
	const locked = invoicePdf(99, { encrypted: true });
	put(BAD_FILE, locked.pdf, locked.invoice);
	return expected;
}

/** The file an item stands for: its record ID (the file name) wherever the item is. */
function fileOf(item: Item): string {
	const j = item.json as { recordId?: string; fileName?: string; error?: { recordId?: string } };
	return String(j.recordId ?? j.error?.recordId ?? j.fileName);
}

describe('example 07 in n8n (CLI): invoices from a folder of PDFs, submit then poll', () => {
	let userFolder: string;
	let cleanup = () => {};
	let sandbox: Sandbox;
	let inbox: string;
	let expected: Map<string, Expected>;
	let env: Record<string, string>;
	const example = readWorkflow(path.resolve(__dirname, '../../examples', FILE));

	beforeAll(async () => {
		({ userFolder, cleanup } = await timed('install package into fresh user folder', () =>
			freshUserFolder('invoices-pdf'),
		));
		inbox = path.join(userFolder, 'invoices', 'inbox');
		expected = writeInbox(inbox);
		// n8n 2 reads files only under ~/.n8n-files unless told otherwise (the example's note says so).
		env = { N8N_RESTRICT_FILE_ACCESS_TO: path.dirname(inbox) };
		sandbox = await n8n.startSandbox(['--port', '0', '--seed', '7']);
		await n8n.importCredentials(userFolder, n8n.sandboxCredentials(sandbox.url));
		const dir = path.join(userFolder, 'workflows');
		mkdirSync(dir);
		for (const [trigger, id] of [
			['Every night at 02:00', 'e2eInvoicesSubmit07'],
			['Every 15 minutes', 'e2eInvoicesPoll07'],
		]) {
			const part = readingFrom(startingAt(example, trigger, id), inbox);
			writeFileSync(path.join(dir, `${id}.json`), JSON.stringify(part));
		}
		await timed('import:workflow', () => n8n.importWorkflowDir(userFolder, dir));
	});

	afterAll(async () => {
		await sandbox?.stop();
		cleanup();
		printTimings('invoices-pdf.e2e');
	});

	let submit: Execution;
	let poll: Execution;
	/** With LLM_BATCH_KEEP_E2E, the run data beside the kept user folder, to look into. */
	const keepRun = (part: string, e: Execution) => {
		if (process.env.LLM_BATCH_KEEP_E2E)
			writeFileSync(path.join(userFolder, `${part}-run.json`), JSON.stringify(e.run, null, 1));
	};

	it('02:00: every PDF read and named by its file, the good ones submitted in one batch, the encrypted scan failed before upload naming its file', async () => {
		await sandbox.configure({ batch: { processingMs: 6_000, expiresAfterMs: 4_000 } });
		submit = await timed('execute submit part', () =>
			n8n.executeWorkflow(userFolder, 'e2eInvoicesSubmit07', { env }),
		);
		keepRun('submit', submit);
		expect(submit.run.data.resultData.error?.message).toBeUndefined();
		expect(submit.exitCode).toBe(0);
		expect(outputs(submit.run, 'Read invoice PDFs')[0]).toHaveLength(expected.size);
		const [ready, rejected] = outputs(submit.run, 'Batch Prepare');
		expect(ready.map(fileOf).sort()).toEqual([...expected.keys()].sort());
		expect(rejected ?? []).toEqual([]);
		const [batches, failed] = outputs(submit.run, 'Submit batch');
		expect(batches.map((b) => b.json.requestCount)).toEqual([expected.size - 1]);
		expect(failed).toHaveLength(1);
		expect(fileOf(failed[0])).toBe(BAD_FILE);
		const error = failed[0].json.error as { code: string; message: string };
		expect(error.code).toBe('invalid_input');
		expect(error.message).toContain(BAD_FILE);
		expect(error.message).toMatch(/encrypted/i);
		// The failed item leaves on the example's Rejected files with its file.
		const [rejectedFiles] = outputs(submit.run, 'Rejected files');
		expect(rejectedFiles.map(fileOf)).toEqual([BAD_FILE]);
	});

	it('15 minutes later: every invoice in exactly one final output with its own fields, the failed ones retried once in realtime with their PDF, the report adding up', async () => {
		expect(submit, 'the submit part ran').toBeDefined();
		await new Promise((r) => setTimeout(r, 4_500));
		poll = await timed('execute poll part', () =>
			n8n.executeWorkflow(userFolder, 'e2eInvoicesPoll07', { env }),
		);
		keepRun('poll', poll);
		expect(poll.run.data.resultData.error?.message).toBeUndefined();
		expect(poll.exitCode).toBe(0);
		expect(outputs(poll.run, 'Check status')[0][0].json).toMatchObject({
			batches: 1,
			allEnded: true,
		});
		// 14 requests over 6 s, expiring after 4 s: 9 done when it expires (the server-down
		// invoice's line a 500 if it is among them), 5 expired; all failures retried in realtime.
		const [collected, failedHere] = outputs(poll.run, 'Collect results');
		expect(collected.length + failedHere.length).toBe(expected.size - 1);
		const code = (item: Item) => (item.json.error as { code: string }).code;
		const expired = failedHere.filter((f) => code(f) === 'expired');
		expect(expired).toHaveLength(5);
		expect(collected.map(fileOf)).not.toContain(SERVER_DOWN_FILE);
		for (const f of failedHere.filter((x) => code(x) !== 'expired')) {
			expect(fileOf(f)).toBe(SERVER_DOWN_FILE);
			expect(code(f)).toBe('server_error');
		}
		const [answered, stillFailing] = outputs(poll.run, 'LLM Batch Call (realtime retry)');
		const retried = [...answered, ...stillFailing];
		expect(retried.map(fileOf).sort()).toEqual(failedHere.map(fileOf).sort());
		expect(stillFailing.map(fileOf)).toEqual([SERVER_DOWN_FILE]);
		// The retry is the record itself, its ID and retry counter kept: a retry that lost them
		// (Read Files gives a new item with the file's facts only) was lost when it failed again.
		for (const item of retried)
			expect(item.json).toMatchObject({ recordId: fileOf(item), retry: { attempts: 1 } });
		for (const item of answered)
			expect((item.json.llm as { recordId: string }).recordId).toBe(fileOf(item));

		const [valid, invalid, review] = outputs(poll.run, 'Validate Output');
		const [, dead = [], filtered] = outputs(poll.run, 'Route Failures');
		const finals = [...valid, ...invalid, ...(review ?? []), ...dead, ...(filtered ?? [])];
		const files = finals.map(fileOf);
		expect(files.sort()).toEqual([...expected.keys()].filter((f) => f !== BAD_FILE).sort());
		expect(invalid.map(fileOf)).toEqual([WRONG_TOTAL_FILE]);
		// Retried once in realtime, still a 500: Dead Letter, not another trip.
		expect(dead.map(fileOf)).toEqual([SERVER_DOWN_FILE]);
		expect(dead[0].json).toMatchObject({
			error: { code: 'server_error' },
			retry: { attempts: 1, exhausted: true },
		});
		for (const item of [...valid, ...invalid, ...(review ?? [])]) {
			const { invoice } = expected.get(fileOf(item))!;
			const out = (item.json.llm as { output: Record<string, unknown> }).output;
			expect(out).toMatchObject({
				supplier: invoice.supplier,
				invoiceNumber: invoice.invoiceNumber,
				date: invoice.date,
				dueDate: invoice.dueDate,
				vat: invoice.vat,
				total: invoice.total,
				lineItems: invoice.lineItems,
			});
		}

		// One report of the poll run, though five outputs over two retry rounds feed it.
		const { report, alerts } = expectOneReport(poll.run, {
			valid,
			invalid,
			review: review ?? [],
			dead,
			filtered: filtered ?? [],
		});
		expect(report.retries.items).toBe(failedHere.length);
		// The good invoices answered (valid, or unsure enough for review); the wrong total and
		// the server-down invoice each 1 of 14, above the 5 % share one error code may have, and
		// at most 12 of 14 valid, below the 90 % success rate: the alerts this run calls for.
		expect(report.outcomes.success + report.outcomes.review).toBe(GOOD);
		expect(alerts).toEqual([
			'maxErrorShare:schema_violation',
			'maxErrorShare:server_error',
			'minSuccessRate',
		]);
	});

	it('Collect gives each record its own PDF back, though it was read in another execution, and every final output keeps it', () => {
		expect(poll, 'the poll part ran').toBeDefined();
		const [collected, failedHere] = outputs(poll.run, 'Collect results');
		const [valid, invalid, review = []] = outputs(poll.run, 'Validate Output');
		const [, dead = [], filtered = []] = outputs(poll.run, 'Route Failures');
		const finals = [...valid, ...invalid, ...review, ...dead, ...filtered];
		for (const [where, items] of [
			['Collect', [...collected, ...failedHere]],
			['a final output', finals],
		] as const) {
			for (const item of items) {
				const binary = (item as Item & { binary?: Record<string, BinaryRef> }).binary?.data;
				expect(binary, `${fileOf(item)} left ${where} without its file`).toBeDefined();
				expect(sha256(binaryBytes(userFolder, binary!))).toBe(expected.get(fileOf(item))!.sha256);
			}
		}
	});
});

interface BinaryRef {
	data: string;
	id?: string;
	fileName?: string;
}

/** The bytes of a binary entry of the run output: inline base64, or n8n's file on disk. */
function binaryBytes(userFolder: string, ref: BinaryRef): Buffer {
	if (!ref.id) return Buffer.from(ref.data, 'base64');
	const [mode, key] = ref.id.split(':');
	if (!mode.startsWith('filesystem')) throw new Error(`binary data kept in ${mode}`);
	return readFileSync(path.join(userFolder, '.n8n', 'storage', key));
}
