/**
 * `npm run bench:batch [-- --quick]`: the measure table of LLM Batch Job, against
 * the sandbox's batch APIs, both providers:
 *  - N records submitted and collected in separate executions sharing a ledger: every record
 *    in exactly one output, each answer its own, batches = ceil(N / cap) (a small cap);
 *  - Submit and Collect run twice: duplicates and resubmitted records;
 *  - cost of the same records through the batch API vs LLM Batch Call (realtime);
 *  - a batch that expires with 60 % done, the rest completed through LLM Batch Call;
 *  - peak RSS of a process collecting N results vs a pass-through workflow over N items.
 * --quick: 2,000 records instead of 10,000. --rss: only the peak-RSS rows (while iterating on
 * the Collect path's memory).
 * --submit-large [--items N] [--chars C]: only a Submit of N records of C characters (default
 * 1,900 × 100,000: a 190 MB batch, under OpenAI's 200 MB cap), each provider in a fresh
 * process: peak RSS, the longest event-loop stall, the ledger's size against the JSONL.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { INode, INodeExecutionData, IDataObject } from 'n8n-workflow';

import { expectedReply, startSandbox, type Sandbox } from '../sandbox/server';
import { runWorkflow, type WorkflowJson } from '../scripts/lib/harness';
import { packageNodeTypes } from '../scripts/lib/node-types';
import { distPath, spawnSandbox } from './common';
import { mb } from './memory';
import type { MemoryChildResult } from './memory-child';
import type { SubmitLargeResult } from './submit-large-child';

const MODEL = { openai: 'gpt-4o-mini', anthropic: 'claude-3-5-haiku-latest' } as const;
type P = keyof typeof MODEL;
const SCHEMA = {
	type: 'object',
	properties: {
		category: { type: 'string', enum: ['billing', 'bug', 'other'] },
		echo: { type: 'string' },
	},
	required: ['category', 'echo'],
};
const int = (n: number) => Math.round(n).toLocaleString('en-US');
const log = (line: string) => console.log(line);

/** Every workflow of the bench must succeed: a failed run would make every number wrong. */
async function run(...args: Parameters<typeof runWorkflow>): ReturnType<typeof runWorkflow> {
	const r = await runWorkflow(...args);
	if (r.run.status !== 'success')
		throw new Error(`workflow failed: ${r.run.data.resultData.error?.message ?? r.run.status}`);
	return r;
}

let t = Date.now();
const start: INode = {
	id: 's',
	name: 'Start',
	type: 'n8n-nodes-base.manualTrigger',
	typeVersion: 1,
	position: [0, 0],
	parameters: {},
};

function jobNode(provider: P, ledger: string, job: string, parameters: IDataObject): INode {
	return {
		id: 'j',
		name: 'LLM Batch Job',
		type: 'n8n-nodes-llm-batch.llmBatchJob',
		typeVersion: 1,
		position: [200, 0],
		parameters: {
			provider,
			jobName: job,
			ledgerStore: 'sqlite',
			ledgerSqlitePath: ledger,
			...parameters,
		},
		credentials: {
			[provider === 'openai' ? 'llmBatchOpenAiApi' : 'llmBatchAnthropicApi']: {
				id: '1',
				name: 'bench',
			},
		},
	};
}

const promptParams = (provider: P) => ({
	model: MODEL[provider],
	systemPrompt: 'Classify the ticket.',
	prompt: '={{ $json.text }}',
	recordId: '={{ $json.id }}',
	outputFormat: 'json',
	jsonSchema: JSON.stringify(SCHEMA),
});

function callNode(provider: P): INode {
	return {
		id: 'c',
		name: 'LLM Batch Call',
		type: 'n8n-nodes-llm-batch.llmBatchCall',
		typeVersion: 1,
		position: [200, 0],
		parameters: {
			provider,
			...promptParams(provider),
			concurrency: 32,
			requestsPerMinute: 100_000_000,
			tokensPerMinute: 1e12,
			options: { progressIntervalSeconds: 0, maxTokens: 1024 },
		},
		credentials: {
			[provider === 'openai' ? 'llmBatchOpenAiApi' : 'llmBatchAnthropicApi']: {
				id: '1',
				name: 'bench',
			},
		},
	};
}

const wf = (node: INode): WorkflowJson => ({
	nodes: [start, node],
	connections: { Start: { main: [[{ node: node.name, type: 'main', index: 0 }]] } },
});

const records = (n: number): INodeExecutionData[] =>
	Array.from({ length: n }, (_, i) => ({
		json: {
			id: `R${String(i).padStart(6, '0')}`,
			text: `Ticket ${i}: the invoice ${i * 7} shows a wrong amount`,
		},
	}));

function creds(sandbox: { url: string }) {
	return {
		llmBatchOpenAiApi: { apiKey: 'bench', baseUrl: `${sandbox.url}/v1` },
		llmBatchAnthropicApi: { apiKey: 'bench', baseUrl: sandbox.url },
	};
}

interface ProviderRow {
	provider: P;
	records: number;
	cap: number;
	batches: number;
	exactlyOnce: boolean;
	ownAnswers: number;
	duplicates: number;
	resubmitted: number;
	batchCost: number;
	realtimeCost: number;
	expirySuccess: number;
	expiryExpired: number;
	fallbackDone: number;
	expiryRecords: number;
}

async function measureProvider(sandbox: Sandbox, provider: P, n: number): Promise<ProviderRow> {
	const nodeTypes = packageNodeTypes();
	const credentials = creds(sandbox);
	const cap = Math.ceil(n / 4) - 1;
	sandbox.batch.reset();
	sandbox.batch.configure({
		processingMs: 3_600_000,
		expiresAfterMs: 86_400_000,
		caps: { [provider]: { maxRequests: cap, maxBytes: 64 * 1024 * 1024 } },
	});
	const ledger = join(mkdtempSync(join(tmpdir(), 'bench-batch-')), 'ledger.sqlite');
	const input = records(n);
	const submit = wf(
		jobNode(provider, ledger, 'bench', {
			operation: 'submit',
			...promptParams(provider),
			options: { batchSize: cap },
		}),
	);
	const collect = wf(jobNode(provider, ledger, 'bench', { operation: 'collect' }));

	const s1 = await run(submit, { nodeTypes, credentials, input });
	const batches = s1.items('LLM Batch Job', 0).length;
	await run(submit, { nodeTypes, credentials, input });
	t += 3_600_000;
	const c1 = await run(collect, { nodeTypes, credentials });
	const success = c1.items('LLM Batch Job', 0);
	const failed = c1.items('LLM Batch Job', 1);
	const ids = [...success, ...failed].map((i) => i.json.id);
	const exactlyOnce = ids.length === n && new Set(ids).size === n;
	let own = 0;
	let batchCost = 0;
	for (const s of success) {
		const llm = s.json.llm as { output: unknown; costUsd: number };
		if (
			JSON.stringify(llm.output) ===
			JSON.stringify(expectedReply({ prompt: String(s.json.text), schema: SCHEMA }).output)
		)
			own++;
		batchCost += llm.costUsd;
	}
	const c2 = await run(collect, { nodeTypes, credentials });
	const duplicates = c2.items('LLM Batch Job', 0).length + c2.items('LLM Batch Job', 1).length;
	await run(submit, { nodeTypes, credentials, input });
	const resubmitted = sandbox.batch.stats().requestsReceived - n;

	// The same records through LLM Batch Call (realtime): same requests, same tokens.
	const rt = await run(wf(callNode(provider)), { nodeTypes, credentials, input });
	const realtimeCost = rt
		.items('LLM Batch Call', 0)
		.reduce((a, s) => a + (s.json.llm as { costUsd: number }).costUsd, 0);

	// Expiry with 60 % done, the rest through LLM Batch Call.
	const m = Math.min(n, 2000);
	sandbox.batch.configure({
		processingMs: 100_000,
		expiresAfterMs: 60_000,
		caps: { [provider]: { maxRequests: 100_000, maxBytes: 256 * 1024 * 1024 } },
	});
	const ledger2 = join(mkdtempSync(join(tmpdir(), 'bench-batch-')), 'ledger.sqlite');
	await run(
		wf(jobNode(provider, ledger2, 'expiry', { operation: 'submit', ...promptParams(provider) })),
		{ nodeTypes, credentials, input: records(m) },
	);
	t += 60_000;
	sandbox.batch.configure({ expiresAfterMs: 86_400_000 });
	const ce = await run(wf(jobNode(provider, ledger2, 'expiry', { operation: 'collect' })), {
		nodeTypes,
		credentials,
	});
	const expired = ce.items('LLM Batch Job', 1);
	const fb = await run(wf(callNode(provider)), {
		nodeTypes,
		credentials,
		input: expired.map((e) => ({ json: e.json })),
	});
	return {
		provider,
		records: n,
		cap,
		batches,
		exactlyOnce,
		ownAnswers: own,
		duplicates,
		resubmitted,
		batchCost,
		realtimeCost,
		expirySuccess: ce.items('LLM Batch Job', 0).length,
		expiryExpired: expired.filter((e) => (e.json.error as { code: string }).code === 'expired')
			.length,
		fallbackDone: fb.items('LLM Batch Call', 0).length,
		expiryRecords: m,
	};
}

function child(script: string, args: string[], flags: string[] = []): Promise<MemoryChildResult> {
	return new Promise((resolve, reject) => {
		const c = spawn(process.execPath, ['--expose-gc', ...flags, distPath(script), ...args], {
			stdio: ['ignore', 'pipe', 'inherit'],
		});
		let result: MemoryChildResult | undefined;
		createInterface({ input: c.stdout }).on('line', (line) => {
			if (line.startsWith('RESULT ')) result = JSON.parse(line.slice(7)) as MemoryChildResult;
		});
		c.once('close', (code) =>
			code === 0 && result ? resolve(result) : reject(new Error(`${script} exited with ${code}`)),
		);
	});
}

/** Pairs measured (each contender in its own process, alternating): the peak of one run
 * depends on when V8 happens to grow its young generation, so one pair is not a number. */
const RSS_PAIRS = 5;

async function measureRss(n: number): Promise<{
	pairs: Array<{ collect: MemoryChildResult; passthrough: MemoryChildResult }>;
	smallCollect: MemoryChildResult;
	smallPassthrough: MemoryChildResult;
}> {
	const sandbox = await spawnSandbox(['--seed', '1']);
	try {
		await fetch(`${sandbox.url}/sandbox/config`, {
			method: 'POST',
			body: JSON.stringify({ batch: { processingMs: 0 } }),
		});
		const { tickets } = await import('./common');
		/** A fresh ledger with the N records submitted (a Collect consumes it). */
		const submitted = async (): Promise<string> => {
			const ledger = join(mkdtempSync(join(tmpdir(), 'bench-batch-rss-')), 'ledger.sqlite');
			const node = jobNode('openai', ledger, 'bench', {
				operation: 'submit',
				model: 'gpt-4o-mini',
				prompt: '={{ $json.text }}',
				recordId: '={{ $json.id }}',
				outputFormat: 'text',
			});
			await run(wf(node), {
				nodeTypes: packageNodeTypes(),
				credentials: creds(sandbox),
				input: tickets(n),
			});
			return ledger;
		};
		const collectIn = (ledger: string, flags: string[] = []) =>
			child('bench/batch-job-child.js', ['collect', ledger, sandbox.url, String(n)], flags);
		const passthroughRun = (flags: string[] = []) =>
			child('bench/memory-child.js', ['passthrough', String(n)], flags);
		const pairs = [];
		for (let i = 0; i < RSS_PAIRS; i++) {
			const ledger = await submitted();
			const passthrough = await passthroughRun();
			pairs.push({ passthrough, collect: await collectIn(ledger) });
		}
		// Reference: the same two with V8's young generation capped, which tells garbage-driven
		// growth of the new space (allocation rate) from memory the collect really holds.
		const small = ['--max-semi-space-size=2'];
		const smallPassthrough = await passthroughRun(small);
		const smallCollect = await collectIn(await submitted(), small);
		return { pairs, smallCollect, smallPassthrough };
	} finally {
		await sandbox.close();
	}
}

function submitLargeIn(args: string[]): Promise<SubmitLargeResult> {
	return new Promise((resolve, reject) => {
		const c = spawn(process.execPath, [distPath('bench/submit-large-child.js'), ...args], {
			stdio: ['ignore', 'pipe', 'inherit'],
		});
		let result: SubmitLargeResult | undefined;
		createInterface({ input: c.stdout }).on('line', (line) => {
			if (line.startsWith('RESULT ')) result = JSON.parse(line.slice(7)) as SubmitLargeResult;
		});
		c.once('close', (code) =>
			code === 0 && result
				? resolve(result)
				: reject(new Error(`submit child exited with ${code}`)),
		);
	});
}

const flag = (name: string, fallback: number) => {
	const i = process.argv.indexOf(name);
	return i >= 0 ? Number(process.argv[i + 1]) : fallback;
};

/** The large-Submit rows: one fresh process per provider against a sandbox process of its own. */
async function submitLarge(): Promise<void> {
	const items = flag('--items', 1_900);
	const chars = flag('--chars', 100_000);
	log(`LLM Batch Job Submit of ${int(items)} records × ${int(chars)} characters`);
	const sandbox = await spawnSandbox(['--seed', '1']);
	const rows: string[][] = [];
	try {
		for (const provider of ['openai', 'anthropic'] as const) {
			const ledger = join(mkdtempSync(join(tmpdir(), 'bench-submit-large-')), 'ledger.sqlite');
			const r = await submitLargeIn([provider, ledger, sandbox.url, String(items), String(chars)]);
			const ledgerTotal = r.ledgerBytes + r.walBytes;
			const ratio = ledgerTotal / r.jsonlBytes;
			rows.push([
				`${provider}: Submit of ${int(items)} × ${int(chars)} chars (${mb(r.jsonlBytes)} JSONL, ${r.batches} batch, ${int(r.requests)} requests, ${(r.durationMs / 1000).toFixed(1)} s)`,
				'peak RSS ≤ 600 MB; no event-loop stall over 200 ms; ledger ≤ 1.2× the JSONL',
				`peak RSS ${mb(r.maxRssBytes)}; ${r.maxStallMs > 0 ? `longest stall ${Math.round(r.maxStallMs)} ms` : 'no stall over 100 ms'} (longest gap ${Math.round(r.maxGapMs)} ms, event-loop delay max ${Math.round(r.histogramMaxMs)} ms); ledger ${mb(r.ledgerBytes)} + ${mb(r.walBytes)} WAL = ${ratio.toFixed(2)}× the JSONL`,
				r.maxRssBytes <= 600e6 && r.maxStallMs <= 200 && ratio <= 1.2 && r.requests === items
					? 'pass'
					: '**miss**',
			]);
		}
	} finally {
		await sandbox.close();
	}
	log('');
	log('| scenario (sandbox batch APIs, sandbox in its own process) | target | result | verdict |');
	log('|---|---|---|---|');
	for (const r of rows) log(`| ${r.join(' | ')} |`);
	log('');
	log(
		`<sub>Node ${process.version}; each Submit in a fresh process (the input items built there, as n8n holds them).</sub>`,
	);
}

async function main(): Promise<void> {
	if (process.argv.includes('--submit-large')) return submitLarge();
	const quick = process.argv.includes('--quick');
	const rssOnly = process.argv.includes('--rss');
	const n = quick ? 2_000 : 10_000;
	log(`LLM Batch Job bench: ${int(n)} records per provider${quick ? ' (quick)' : ''}`);
	const rows: ProviderRow[] = [];
	if (!rssOnly) {
		const sandbox = await startSandbox({ now: () => t });
		try {
			for (const p of ['openai', 'anthropic'] as const) {
				log(`  ${p} …`);
				rows.push(await measureProvider(sandbox, p, n));
			}
		} finally {
			await sandbox.close();
		}
	}
	log('  peak RSS …');
	const rss = await measureRss(n);
	const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
	const collectRss = med(rss.pairs.map((p) => p.collect.maxRssBytes));
	const passRss = med(rss.pairs.map((p) => p.passthrough.maxRssBytes));
	const ratio = collectRss / passRss;
	const ratios = rss.pairs.map((p) => p.collect.maxRssBytes / p.passthrough.maxRssBytes);

	const table: string[][] = [];
	for (const r of rows) {
		table.push(
			[
				`${r.provider}: ${int(r.records)} records, submit and collect in separate executions (cap ${int(r.cap)})`,
				'every record in exactly one output; each answer its own; batches = ceil(records ÷ cap)',
				`${r.exactlyOnce ? 'exactly once' : '**not exactly once**'}; ${int(r.ownAnswers)} / ${int(r.records)} own answers; ${r.batches} batches (ceil = ${Math.ceil(r.records / r.cap)})`,
				r.exactlyOnce && r.ownAnswers === r.records && r.batches === Math.ceil(r.records / r.cap)
					? 'pass'
					: '**miss**',
			],
			[
				`${r.provider}: cost of the same records, batch ÷ LLM Batch Call`,
				'50 %',
				`${((r.batchCost / r.realtimeCost) * 100).toFixed(2)} % ($${r.batchCost.toFixed(4)} vs $${r.realtimeCost.toFixed(4)})`,
				Math.abs(r.batchCost / r.realtimeCost - 0.5) < 0.001 ? 'pass' : '**miss**',
			],
			[
				`${r.provider}: Collect run twice; Submit run twice (and a third time after Collect)`,
				'0 duplicate outputs; 0 records resubmitted',
				`${r.duplicates} duplicates; ${r.resubmitted} resubmitted`,
				r.duplicates === 0 && r.resubmitted === 0 ? 'pass' : '**miss**',
			],
			[
				`${r.provider}: batch expires with 60 % done (${int(r.expiryRecords)} records)`,
				'60 % Success, rest Failed expired; fallback through LLM Batch Call completes them',
				`${int(r.expirySuccess)} Success (${((r.expirySuccess / r.expiryRecords) * 100).toFixed(0)} %), ${int(r.expiryExpired)} expired, ${int(r.fallbackDone)} completed by LLM Batch Call`,
				r.expirySuccess === r.expiryRecords * 0.6 &&
				r.expiryExpired + r.expirySuccess === r.expiryRecords &&
				r.fallbackDone === r.expiryExpired
					? 'pass'
					: '**miss**',
			],
		);
	}
	if (!rssOnly)
		table.push([
			'kill -9 between Submit and Collect, then rerun both',
			'no record submitted twice; all collected',
			'covered by test/workflow/batch-job-crash.test.ts (3,000 records): SIGKILL of the process that submitted, and SIGKILL inside Submit right after the provider accepted a batch (both providers: the rerun adopts it)',
			'test',
		]);
	table.push(
		[
			`peak RSS while collecting ${int(n)} results (one Collect execution) vs a pass-through workflow over ${int(n)} items`,
			'≤ 1.3×',
			`${ratio.toFixed(2)}×, medians of ${RSS_PAIRS} runs each (${mb(collectRss)} vs ${mb(passRss)}; per pair ${ratios.map((r) => `${r.toFixed(2)}×`).join(', ')}; live heap after GC ${mb(rss.pairs[0].collect.retainedHeapBytes)} vs ${mb(rss.pairs[0].passthrough.retainedHeapBytes)})`,
			ratio <= 1.3 ? 'pass' : '**miss**',
		],
		[
			'Reference, not a target: the same two with `--max-semi-space-size=2` (V8 young generation capped at 2 MB per semi-space)',
			'–',
			`${(rss.smallCollect.maxRssBytes / rss.smallPassthrough.maxRssBytes).toFixed(2)}× (${mb(rss.smallCollect.maxRssBytes)} vs ${mb(rss.smallPassthrough.maxRssBytes)})`,
			'–',
		],
	);
	log('');
	log('| scenario (sandbox batch APIs) | target | result | verdict |');
	log('|---|---|---|---|');
	for (const r of table) log(`| ${r.join(' | ')} |`);
	log('');
	log(
		`<sub>Node ${process.version}; sandbox in-process on a moved clock (no sleeps) for the rows per provider, in its own process for the RSS row; each RSS contender in its own process.</sub>`,
	);
}

main().then(
	() => process.exit(0),
	(e: unknown) => {
		console.error(e);
		process.exit(1);
	},
);
