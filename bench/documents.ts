/**
 * Documents in, records out, side by side in one run: 1,000 generated invoice PDFs (1–3 pages)
 * through LLM Batch Call and through LLM Batch Job (Submit → Collect), for each provider, against
 * the sandbox, with five bad files among them (a 0-byte PDF, a PNG named .pdf, an encrypted PDF,
 * a 600-page PDF, a 60 MB image). In-process (the nodes' execute functions over n8n-shaped items
 * with their binary data in memory, as n8n keeps it by default), not a real n8n. Peak RSS of an
 * LLM Batch Call run against a pass-through over the same items, each in a child process.
 *
 *   npx tsx bench/documents.ts
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { INodeExecutionData } from 'n8n-workflow';

import { attachFile, type AttachedFile } from '../core/call/attachments';
import { inputPolicy, isItemError } from '../core/call/input';
import { resetSharedFlow } from '../core/call/limiter/in-process';
import type { Clock } from '../core/types';
import { executeLlmBatchCall } from '../nodes/LlmBatchCall/execute';
import { router } from '../nodes/LlmBatchJob/actions/router';
import { startSandbox, type Sandbox } from '../sandbox/server';
import { mockExecute } from '../test/helpers/mock-execute';
import { INVOICE_SCHEMA, invoicePdf, makePdf, makePng } from '../test/helpers/pdf';

const N = 1000;
const PROMPT = 'Extract the invoice fields.';
const MODEL = { openai: 'gpt-4.1-mini', anthropic: 'claude-3-5-haiku-latest' } as const;
type Provider = keyof typeof MODEL;

const bin = (buf: Buffer, fileName: string, mimeType = 'application/pdf') => ({
	data: { data: buf.toString('base64'), mimeType, fileName },
});

function invoiceItems(): INodeExecutionData[] {
	return Array.from({ length: N }, (_, n) => ({
		json: { id: `inv-${n}` },
		binary: bin(invoicePdf(n, { compress: n % 2 === 1 }).pdf, `inv-${n}.pdf`),
	}));
}

const BAD = ['empty.pdf', 'scan.pdf', 'locked.pdf', 'long.pdf', 'huge.png'];
function badItems(): INodeExecutionData[] {
	const files: Array<[Buffer, string, string?]> = [
		[Buffer.alloc(0), 'empty.pdf'],
		[makePng(800, 600), 'scan.pdf'],
		[makePdf([['secret']], { encrypted: true }), 'locked.pdf'],
		[makePdf(Array.from({ length: 600 }, (_, p) => [`page ${p + 1}`])), 'long.pdf'],
		[makePng(8000, 6000, undefined, 60 * 1024 * 1024), 'huge.png', 'image/png'],
	];
	return files.map(([buf, name, mime]) => ({
		json: { id: `bad-${name}` },
		binary: bin(buf, name, mime),
	}));
}

function params(provider: Provider, extra: Record<string, unknown> = {}) {
	return {
		provider,
		model: MODEL[provider],
		systemPrompt: '',
		prompt: PROMPT,
		recordId: (_i: number, item: { json: Record<string, unknown> }) => item.json.id,
		outputFormat: 'json',
		jsonSchema: JSON.stringify(INVOICE_SCHEMA),
		concurrency: 16,
		requestsPerMinute: 600_000,
		tokensPerMinute: 1_000_000_000,
		resultField: 'llm',
		ledgerStore: 'none',
		options: { progressIntervalSeconds: 0, attachments: 'data', promptCaching: 'off' },
		...extra,
	};
}

const credentials = (sandbox: Sandbox) => ({
	llmBatchOpenAiApi: { apiKey: 'sk-bench', baseUrl: `${sandbox.url}/v1` },
	llmBatchAnthropicApi: { apiKey: 'sk-bench', baseUrl: sandbox.url },
});

/** The package's estimate of the invoices' input tokens (the limiter's charge). */
function estimate(provider: Provider, items: INodeExecutionData[]): number {
	const policy = inputPolicy({
		provider,
		scope: 's',
		model: MODEL[provider],
		schema: INVOICE_SCHEMA,
		maxTokens: 1024,
		contextWindow: 0,
	});
	let sum = 0;
	for (const [i, it] of items.entries()) {
		const buf = Buffer.from(it.binary!.data.data, 'base64');
		const file = attachFile(
			{ property: 'data', fileName: 'x' },
			buf,
			async () => buf,
		) as AttachedFile;
		const run = policy(i, {
			prompt: PROMPT,
			system: '',
			recordId: `inv-${i}`,
			attachments: [file],
		});
		if (isItemError(run)) throw new Error(run.message);
		sum += run.inputTokens;
	}
	return sum;
}

interface Row {
	node: string;
	provider: Provider;
	invoices: number;
	ownFields: number;
	outputsPerInvoice: string;
	binaryKept: string;
	badInvalidInput: string;
	requestsSent: number;
	estimate: number;
	billed: number;
	seconds: number;
}

function check(
	node: string,
	provider: Provider,
	success: INodeExecutionData[],
	failed: INodeExecutionData[],
	requestsSent: number,
	est: number,
	started: number,
): Row {
	const seen = new Map<string, number>();
	let own = 0;
	let billed = 0;
	let kept = 0;
	for (const s of [...success, ...failed]) {
		const id = String(s.json.id);
		seen.set(id, (seen.get(id) ?? 0) + 1);
		if (s.binary?.data) kept++;
	}
	for (const s of success) {
		const n = Number(String(s.json.id).slice(4));
		const llm = s.json.llm as { output: unknown; usage: { inputTokens: number } };
		if (JSON.stringify(llm.output) === JSON.stringify(invoicePdf(n).invoice)) own++;
		billed += llm.usage.inputTokens;
	}
	const bad = failed.filter((f) => {
		const e = f.json.error as { code: string; message: string };
		const name = String(f.json.id).slice(4);
		return e.code === 'invalid_input' && e.message.includes(name);
	}).length;
	const once = [...seen.values()].every((c) => c === 1) && seen.size === N + BAD.length;
	return {
		node,
		provider,
		invoices: success.length,
		ownFields: own,
		outputsPerInvoice: once ? 'exactly 1' : 'NOT 1',
		binaryKept: `${Math.round((100 * kept) / (success.length + failed.length))} %`,
		badInvalidInput: `${bad}/${BAD.length}`,
		requestsSent,
		estimate: est,
		billed,
		seconds: Math.round((performance.now() - started) / 100) / 10,
	};
}

async function viaCall(sandbox: Sandbox, provider: Provider, items: INodeExecutionData[]) {
	sandbox.reset();
	resetSharedFlow();
	const started = performance.now();
	const m = mockExecute({
		inputs: [items],
		parameters: params(provider),
		credentials: credentials(sandbox),
	});
	const [success, failed] = await executeLlmBatchCall(m.fns);
	const stats = sandbox.stats();
	return check(
		'LLM Batch Call',
		provider,
		success,
		failed,
		stats.requests ?? 0,
		estimate(provider, items.slice(0, N)),
		started,
	);
}

async function viaJob(
	sandbox: Sandbox,
	provider: Provider,
	items: INodeExecutionData[],
	clock: { t: number },
) {
	sandbox.batch.reset();
	const ledger = join(mkdtempSync(join(tmpdir(), 'bench-documents-')), 'ledger.sqlite');
	const c: Clock = { now: () => clock.t, sleep: async () => undefined, random: () => 0.5 };
	const run = (operation: string) =>
		router(
			mockExecute({
				inputs: [items],
				credentials: credentials(sandbox),
				parameters: {
					...params(provider),
					operation,
					jobName: `bench-invoices-${provider}`,
					ledgerStore: 'sqlite',
					ledgerSqlitePath: ledger,
					options: { attachments: 'data' },
				},
			}).fns,
			{ clock: c },
		);
	const started = performance.now();
	const [, submitFailed] = await run('submit');
	clock.t += 2 * 60 * 60 * 1000;
	const [success, collectFailed] = await run('collect');
	const sent = sandbox.batch.stats().requestsReceived;
	return check(
		'LLM Batch Job',
		provider,
		success,
		[...submitFailed, ...collectFailed],
		sent,
		estimate(provider, items.slice(0, N)),
		started,
	);
}

/** Child: one run over the 1,000 invoices (`call`) or a pass-through (`pass`); prints peak RSS in MB. */
async function child(mode: string, url: string): Promise<void> {
	const items = invoiceItems();
	if (mode === 'pass') {
		const out = items.map((item, i) => ({
			json: item.json,
			binary: item.binary,
			pairedItem: { item: i },
		}));
		if (out.length !== N) throw new Error('lost items');
	} else {
		const m = mockExecute({
			inputs: [items],
			parameters: params('openai'),
			credentials: { llmBatchOpenAiApi: { apiKey: 'sk-bench', baseUrl: `${url}/v1` } },
		});
		const [success] = await executeLlmBatchCall(m.fns);
		if (success.length !== N) throw new Error(`${success.length} successes`);
	}
	console.log(
		JSON.stringify({ mode, peakRssMb: Math.round(process.resourceUsage().maxRSS / 1024) }),
	);
}

async function main(): Promise<void> {
	if (process.argv[2] === 'child') return child(process.argv[3], process.argv[4]);
	const clock = { t: Date.parse('2026-01-01T02:00:00Z') };
	const sandbox = await startSandbox({
		seed: 23,
		now: () => clock.t,
		batch: { processingMs: 60_000 },
	});
	try {
		const items = [...invoiceItems(), ...badItems()];
		const rows: Row[] = [];
		for (const provider of ['openai', 'anthropic'] as const) {
			rows.push(await viaCall(sandbox, provider, items));
			rows.push(await viaJob(sandbox, provider, items, clock));
		}
		console.log(
			'| node | provider | invoices answered | own fields | outputs per item | binary kept | bad files → invalid_input naming the file | requests sent | estimate (input tokens) | billed | estimate / billed | s |',
		);
		console.log('|---|---|---|---|---|---|---|---|---|---|---|---|');
		for (const r of rows)
			console.log(
				`| ${r.node} | ${r.provider} | ${r.invoices} | ${r.ownFields} | ${r.outputsPerInvoice} | ${r.binaryKept} | ${r.badInvalidInput} | ${r.requestsSent} | ${r.estimate} | ${r.billed} | ${(r.estimate / r.billed).toFixed(3)} | ${r.seconds} |`,
			);
		// Asynchronously: the child calls this process's sandbox.
		const rss: Array<{ peakRssMb: number }> = [];
		for (const mode of ['pass', 'call']) {
			const { stdout } = await promisify(execFile)(
				process.execPath,
				[...process.execArgv, __filename, 'child', mode, sandbox.url],
				{ encoding: 'utf8', maxBuffer: 1 << 20 },
			);
			rss.push(JSON.parse(stdout.trim().split('\n').pop()!) as { peakRssMb: number });
		}
		console.log(
			`\nPeak RSS, 1,000 invoice PDFs in memory: pass-through ${rss[0].peakRssMb} MB, LLM Batch Call ${rss[1].peakRssMb} MB (${(rss[1].peakRssMb / rss[0].peakRssMb).toFixed(2)}×)`,
		);
	} finally {
		await sandbox.close();
	}
}

void main().catch((e: unknown) => {
	console.error(e);
	process.exit(1);
});
