/**
 * Documents in, records out, side by side in one run: 1,000 generated invoice PDFs (1–3 pages)
 * through LLM Batch Call and through LLM Batch Job (Submit → Collect, the same items in), on
 * OpenAI, Anthropic and Gemini, against the sandbox, with five bad files among them (a 0-byte PDF,
 * a PNG named .pdf, an encrypted PDF, a PDF over the provider's page limit, a 60 MB image). In-process (the nodes'
 * execute functions over n8n-shaped items with their binary data in memory, as n8n keeps it by
 * default), not a real n8n.
 *
 * Per row: every invoice in exactly one output with its own fields, binary data kept on the
 * output items, the bad files each an `invalid_input` naming the file with no request sent for
 * it, the package's estimate of the input tokens (LLM Batch Call's limiter charge; the Job sends
 * the same request bodies) against what the sandbox billed, and the billed cost at the model's
 * price (the batch price for the Job) against the items' own `costUsd`. Then Gemini batch
 * against Gemini realtime over the same invoices (cost and answers), and peak RSS of an LLM
 * Batch Call run against a pass-through over the same items, each in a child process.
 *
 *   npx tsx bench/documents.ts [--quick]      (--quick: 100 invoices)
 *
 * Exits 1 when a target is missed: a lost, doubled or foreign answer, binary data dropped,
 * a bad file not refused by name or sent, an estimate outside ±15 % of the bill, items' costs
 * that do not add up to the bill, or Gemini batch not at half the realtime cost with the same
 * answers.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

import type { INodeExecutionData } from 'n8n-workflow';

import { resetSharedFlow } from '../core/call/limiter/in-process';
import { costUsd } from '../core/cost';
import type { Clock } from '../core/types';
import { router } from '../nodes/LlmBatchJob/actions/router';
import { startSandbox, type Sandbox } from '../sandbox/server';
import {
	binaryItem,
	estimateInvoiceTokens,
	extractInvoices,
	hasOwnInvoice,
	invoiceItems,
	invoiceParameters,
	sandboxCredentials,
	type InvoiceProvider,
} from '../test/helpers/invoices';
import { mockExecute } from '../test/helpers/mock-execute';
import { makePdf, makePng } from '../test/helpers/pdf';

const N = process.argv.includes('--quick') ? 100 : 1000;
const MODEL: Record<InvoiceProvider, string> = {
	openai: 'gpt-4.1-mini',
	anthropic: 'claude-3-5-haiku-latest',
	gemini: 'gemini-2.5-flash',
};
const PROVIDERS = Object.keys(MODEL) as InvoiceProvider[];

const BAD = ['empty.pdf', 'scan.pdf', 'locked.pdf', 'long.pdf', 'huge.png'];
/**
 * The five bad files. "Too long" is more pages than the provider reads: 600 for OpenAI and
 * Anthropic (100 pages at most), 1,001 for Gemini, which reads up to 1,000 (a 600-page PDF is
 * a good file there, answered and billed at 258 tokens a page).
 */
function badItems(provider: InvoiceProvider): INodeExecutionData[] {
	const pages = provider === 'gemini' ? 1001 : 600;
	return [
		binaryItem('bad-empty.pdf', Buffer.alloc(0), 'empty.pdf'),
		binaryItem('bad-scan.pdf', makePng(800, 600), 'scan.pdf'),
		binaryItem('bad-locked.pdf', makePdf([['secret']], { encrypted: true }), 'locked.pdf'),
		binaryItem(
			'bad-long.pdf',
			makePdf(Array.from({ length: pages }, (_, p) => [`page ${p + 1}`])),
			'long.pdf',
		),
		binaryItem(
			'bad-huge.png',
			makePng(8000, 6000, undefined, 60 * 1024 * 1024),
			'huge.png',
			'image/png',
		),
	];
}

/** What the sandbox billed for one node's run. */
interface Billed {
	requests: number;
	inputTokens: number;
	outputTokens: number;
	batch: boolean;
}

interface Row {
	node: string;
	provider: InvoiceProvider;
	answered: number;
	ownFields: number;
	exactlyOnce: boolean;
	binaryKept: number;
	outputs: number;
	badRefused: number;
	requests: number;
	estimate: number;
	billed: Billed;
	usd: number;
	itemsUsd: number;
	/** recordId → the answer, to compare Gemini batch with Gemini realtime. */
	answers: Map<string, string>;
	seconds: number;
}

function check(
	node: string,
	provider: InvoiceProvider,
	success: INodeExecutionData[],
	failed: INodeExecutionData[],
	billed: Billed,
	estimate: number,
	started: number,
): Row {
	const seen = new Map<string, number>();
	let kept = 0;
	for (const item of [...success, ...failed]) {
		const id = String(item.json.id);
		seen.set(id, (seen.get(id) ?? 0) + 1);
		if (item.binary?.data) kept++;
	}
	const answers = new Map<string, string>();
	let itemsUsd = 0;
	for (const item of success) {
		const llm = item.json.llm as { output: unknown; costUsd?: number };
		answers.set(String(item.json.id), JSON.stringify(llm.output));
		itemsUsd += llm.costUsd ?? NaN;
	}
	const badRefused = failed.filter((f) => {
		const e = f.json.error as { code: string; message: string };
		const name = String(f.json.id).slice(4);
		return BAD.includes(name) && e.code === 'invalid_input' && e.message.includes(name);
	}).length;
	const usage = { inputTokens: billed.inputTokens, outputTokens: billed.outputTokens };
	return {
		node,
		provider,
		answered: success.length,
		ownFields: success.filter((s) => hasOwnInvoice(s)).length,
		exactlyOnce: seen.size === N + BAD.length && [...seen.values()].every((c) => c === 1),
		binaryKept: kept,
		outputs: success.length + failed.length,
		badRefused,
		requests: billed.requests,
		estimate,
		billed,
		usd: costUsd(MODEL[provider], usage, { batch: billed.batch }) ?? NaN,
		itemsUsd,
		answers,
		seconds: Math.round((performance.now() - started) / 100) / 10,
	};
}

async function viaCall(sandbox: Sandbox, provider: InvoiceProvider, items: INodeExecutionData[]) {
	sandbox.reset();
	resetSharedFlow();
	const started = performance.now();
	const [success, failed] = await extractInvoices(sandbox, provider, MODEL[provider], items);
	const st = sandbox.stats();
	const billed = {
		requests: st.requests,
		inputTokens: st.inputTokens,
		outputTokens: st.outputTokens,
		batch: false,
	};
	const estimate = estimateInvoiceTokens(provider, MODEL[provider], items.slice(0, N));
	return check('LLM Batch Call', provider, success, failed, billed, estimate, started);
}

async function viaJob(
	sandbox: Sandbox,
	provider: InvoiceProvider,
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
				credentials: sandboxCredentials(sandbox),
				parameters: invoiceParameters(provider, MODEL[provider], {
					operation,
					jobName: `bench-invoices-${provider}`,
					ledgerStore: 'sqlite',
					ledgerSqlitePath: ledger,
					options: { attachments: 'data' },
				}),
			}).fns,
			{ clock: c },
		);
	const started = performance.now();
	const [, submitFailed] = await run('submit');
	clock.t += 2 * 60 * 60 * 1000;
	const [success, collectFailed] = await run('collect');
	const st = sandbox.batch.stats();
	const billed = {
		requests: st.requestsReceived,
		inputTokens: st.billed.inputTokens,
		outputTokens: st.billed.outputTokens,
		batch: true,
	};
	const estimate = estimateInvoiceTokens(provider, MODEL[provider], items.slice(0, N));
	const failed = [...submitFailed, ...collectFailed];
	return check('LLM Batch Job', provider, success, failed, billed, estimate, started);
}

const pct = (part: number, whole: number) => `${((100 * part) / whole).toFixed(1)} %`;
const usd = (v: number) => `$${v.toFixed(4)}`;

/** The targets a row misses, named. */
function misses(r: Row): string[] {
	const out: string[] = [];
	if (r.answered !== N || r.ownFields !== N) out.push(`${r.ownFields} of ${N} own answers`);
	if (!r.exactlyOnce) out.push('an item not in exactly one output');
	if (r.binaryKept !== r.outputs) out.push(`binary kept on ${r.binaryKept} of ${r.outputs} items`);
	if (r.badRefused !== BAD.length) out.push(`${r.badRefused} of ${BAD.length} bad files refused`);
	if (r.requests !== N) out.push(`${r.requests} requests for ${N} invoices`);
	const ratio = r.estimate / r.billed.inputTokens;
	if (Math.abs(ratio - 1) >= 0.15) out.push(`estimate / billed ${ratio.toFixed(3)}`);
	if (Math.abs(r.itemsUsd - r.usd) > N * 1e-10) out.push("items' costUsd ≠ the bill");
	return out;
}

/** The table; the missed targets after it. True when none is missed. */
function printRows(rows: Row[]): boolean {
	console.log(
		`| node | provider (model) | invoices answered | own fields | every item in exactly one output | binary kept | bad files → invalid_input naming the file | requests sent (for bad files) | estimate (input tokens) | billed | estimate / billed | cost billed | items' costUsd | s |`,
	);
	console.log('|---|---|---|---|---|---|---|---|---|---|---|---|---|---|');
	for (const r of rows) {
		const ratio = r.estimate / r.billed.inputTokens;
		console.log(
			`| ${r.node} | ${r.provider} (${MODEL[r.provider]}) | ${r.answered} | ${r.ownFields} | ${r.exactlyOnce ? 'yes' : 'NO'} | ${pct(r.binaryKept, r.outputs)} (${r.binaryKept}/${r.outputs}) | ${r.badRefused}/${BAD.length} | ${r.requests} (${r.requests - r.answered}) | ${r.estimate.toLocaleString('en')} | ${r.billed.inputTokens.toLocaleString('en')} | ${ratio.toFixed(3)} | ${usd(r.usd)} | ${usd(r.itemsUsd)} | ${r.seconds} |`,
		);
	}
	const missed = rows.flatMap((r) => misses(r).map((m) => `${r.node} (${r.provider}): ${m}`));
	for (const m of missed) console.log(`MISSED ${m}`);
	return missed.length === 0;
}

/** Gemini batch against Gemini realtime over the same invoices: half the cost, the same answers. */
function printGeminiBatch(rows: Row[]): boolean {
	const realtime = rows.find((r) => r.provider === 'gemini' && r.node === 'LLM Batch Call')!;
	const batch = rows.find((r) => r.provider === 'gemini' && r.node === 'LLM Batch Job')!;
	let same = 0;
	for (const [id, answer] of realtime.answers) if (batch.answers.get(id) === answer) same++;
	const share = batch.usd / realtime.usd;
	console.log(
		`\n| Gemini (${MODEL.gemini}), same ${N} invoice PDFs | realtime (billed) | batch (billed) | batch / realtime | same answers |`,
	);
	console.log('|---|---|---|---|---|');
	console.log(
		`| LLM Batch Call vs LLM Batch Job | ${usd(realtime.usd)} (${realtime.billed.inputTokens.toLocaleString('en')} in + ${realtime.billed.outputTokens.toLocaleString('en')} out) | ${usd(batch.usd)} (${batch.billed.inputTokens.toLocaleString('en')} in + ${batch.billed.outputTokens.toLocaleString('en')} out) | ${pct(batch.usd, realtime.usd)} | ${same}/${N} |`,
	);
	const ok = same === N && Math.abs(share - 0.5) < 1e-4;
	if (!ok)
		console.log(`MISSED Gemini batch: ${pct(batch.usd, realtime.usd)}, ${same}/${N} same answers`);
	return ok;
}

/** Child: one run over the invoices (`call`) or a pass-through (`pass`); prints peak RSS in MB. */
async function child(mode: string, url: string): Promise<void> {
	const items = invoiceItems(N);
	if (mode === 'pass') {
		const out = items.map((item, i) => ({
			json: item.json,
			binary: item.binary,
			pairedItem: { item: i },
		}));
		if (out.length !== N) throw new Error('lost items');
	} else {
		const [success] = await extractInvoices({ url }, 'openai', MODEL.openai, items);
		if (success.length !== N) throw new Error(`${success.length} successes`);
	}
	console.log(JSON.stringify({ mode, peakRssMb: peakRssMb() }));
}

/**
 * This process's peak RSS: Linux's VmHWM (of this process's own memory map), not getrusage's
 * maxRSS, which keeps the high-water mark of the memory the process had before its exec — the
 * forked parent's, as large as this bench — and so reads the same for both children.
 */
function peakRssMb(): number {
	try {
		const hwm = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
		if (hwm) return Math.round(Number(hwm[1]) / 1024);
	} catch {
		// Not Linux.
	}
	return Math.round(process.resourceUsage().maxRSS / 1024);
}

/** Peak RSS of LLM Batch Call against a pass-through; true when at most 1.5×. */
async function peakRss(sandbox: Sandbox): Promise<boolean> {
	const rss: Array<{ peakRssMb: number }> = [];
	for (const mode of ['pass', 'call']) {
		// Asynchronously: the child calls this process's sandbox.
		const { stdout } = await promisify(execFile)(
			process.execPath,
			[...process.execArgv, __filename, ...process.argv.slice(2), 'child', mode, sandbox.url],
			{ encoding: 'utf8', maxBuffer: 1 << 20 },
		);
		rss.push(JSON.parse(stdout.trim().split('\n').pop()!) as { peakRssMb: number });
	}
	console.log(
		`\nPeak RSS, ${N} invoice PDFs in memory: pass-through ${rss[0].peakRssMb} MB, LLM Batch Call ${rss[1].peakRssMb} MB (${(rss[1].peakRssMb / rss[0].peakRssMb).toFixed(2)}×)`,
	);
	const ok = rss[1].peakRssMb <= 1.5 * rss[0].peakRssMb;
	if (!ok) console.log('MISSED peak RSS over 1.5× the pass-through');
	return ok;
}

async function main(): Promise<void> {
	const at = process.argv.indexOf('child');
	if (at >= 0) return child(process.argv[at + 1], process.argv[at + 2]);
	const clock = { t: Date.parse('2026-01-01T02:00:00Z') };
	const sandbox = await startSandbox({
		seed: 23,
		now: () => clock.t,
		batch: { processingMs: 60_000 },
	});
	try {
		const invoices = invoiceItems(N);
		const rows: Row[] = [];
		for (const provider of PROVIDERS) {
			const items = [...invoices, ...badItems(provider)];
			rows.push(await viaCall(sandbox, provider, items));
			rows.push(await viaJob(sandbox, provider, items, clock));
		}
		const rowsOk = printRows(rows);
		const geminiOk = printGeminiBatch(rows);
		const rssOk = await peakRss(sandbox);
		if (!rowsOk || !geminiOk || !rssOk) process.exitCode = 1;
	} finally {
		await sandbox.close();
	}
}

void main().catch((e: unknown) => {
	console.error(e);
	process.exit(1);
});
