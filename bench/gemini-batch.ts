/**
 * Gemini batch vs Gemini realtime, same invoices: N invoice texts through LLM Batch Call with
 * Provider = Google Gemini (one realtime `generateContent` each), and the same invoices through
 * LLM Batch Job (Submit → the batch ends → Collect) — both through a real n8n WorkflowExecute
 * against the in-process sandbox, which answers both the same way.
 *
 * Each side's cost is what the sandbox billed (its realtime token counters; its batch APIs'
 * `billed` counters) at gemini-2.5-flash's price, the batch side at the batch price. Each side's
 * cost fields on the items must add up to its figure, and every invoice must get the same answer
 * on both sides.
 *
 * Alone: `npm run build && npx node build/bench/gemini-batch.js [--quick]` (--quick: 100
 * invoices; npx runs the package's Node, which has node:sqlite).
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import type { INodeExecutionData, INodeParameters } from 'n8n-workflow';

import { resetSharedFlow } from '../core/call/limiter/in-process';
import { costUsd } from '../core/cost';
import { LlmBatchCall } from '../nodes/LlmBatchCall/LlmBatchCall.node';
import { LlmBatchJob } from '../nodes/LlmBatchJob/LlmBatchJob.node';
import { startSandbox } from '../sandbox/server';
import { PassThroughNode, runWorkflow } from '../scripts/lib/harness';
import { linearWorkflow } from '../scripts/lib/workflow-builder';

const MODEL = 'gemini-2.5-flash';

/** The invoice record the model extracts. */
const SCHEMA = {
	type: 'object',
	required: ['supplier', 'invoiceNumber', 'date', 'total', 'vat'],
	properties: {
		supplier: { type: 'string' },
		invoiceNumber: { type: 'string' },
		date: { type: 'string', format: 'date' },
		total: { type: 'number', minimum: 0 },
		vat: { type: 'number', minimum: 0 },
	},
};

const SYSTEM = 'Extract the invoice fields. Answer with JSON only.';

function invoices(n: number): INodeExecutionData[] {
	return Array.from({ length: n }, (_, i) => ({
		json: {
			id: `INV-${String(i).padStart(5, '0')}`,
			text: `Invoice INV-${i} from Supplier ${i % 17} GmbH, dated 2026-0${(i % 9) + 1}-1${i % 10}: ${i % 5} line items, net ${(i * 13.7).toFixed(2)} EUR, VAT 19 %.`,
		},
	}));
}

const nodeTypes = () => ({
	'n8n-nodes-base.manualTrigger': new PassThroughNode(),
	'n8n-nodes-llm-batch.llmBatchCall': new LlmBatchCall(),
	'n8n-nodes-llm-batch.llmBatchJob': new LlmBatchJob(),
});

const shared = {
	model: MODEL,
	systemPrompt: SYSTEM,
	prompt: '={{ $json.text }}',
	recordId: '={{ $json.id }}',
	outputFormat: 'json',
	jsonSchema: JSON.stringify(SCHEMA),
};

interface Side {
	usd: number;
	nodeUsd: number;
	answers: Map<string, string>;
	failed: number;
}

async function main(): Promise<void> {
	const n = process.argv.includes('--quick') ? 100 : 1000;
	let t = Date.parse('2026-01-01T00:00:00Z');
	const sandbox = await startSandbox({ now: () => t, batch: { processingMs: 60_000 } });
	const credentials = { llmBatchGeminiApi: { apiKey: 'bench', baseUrl: sandbox.url } };
	const input = invoices(n);
	try {
		resetSharedFlow();
		sandbox.reset();
		const call = await runWorkflow(
			linearWorkflow({
				name: 'LLM Batch Call',
				type: 'llmBatchCall',
				parameters: {
					provider: 'gemini',
					...shared,
					concurrency: 16,
					requestsPerMinute: 1_000_000,
					tokensPerMinute: 1_000_000_000,
					options: { progressIntervalSeconds: 0, maxTokens: 200 },
				} as INodeParameters,
				credentials: { llmBatchGeminiApi: 'bench' },
				outputs: 2,
			}),
			{ nodeTypes: nodeTypes(), input, credentials },
		);
		const st = sandbox.stats();
		const realtime = side(call.items('LLM Batch Call', 0), call.items('LLM Batch Call', 1));
		realtime.usd =
			costUsd(MODEL, { inputTokens: st.inputTokens, outputTokens: st.outputTokens }) ?? NaN;

		const ledger = join(mkdtempSync(join(tmpdir(), 'bench-gemini-')), 'ledger.sqlite');
		const job = (parameters: Record<string, unknown>) =>
			linearWorkflow({
				name: 'LLM Batch Job',
				type: 'llmBatchJob',
				parameters: {
					provider: 'gemini',
					jobName: 'invoices',
					ledgerStore: 'sqlite',
					ledgerSqlitePath: ledger,
					...parameters,
				} as INodeParameters,
				credentials: { llmBatchGeminiApi: 'bench' },
				outputs: 2,
			});
		const submitted = await runWorkflow(
			job({ operation: 'submit', ...shared, options: { maxTokens: 200 } }),
			{ nodeTypes: nodeTypes(), input, credentials },
		);
		if (submitted.run.status !== 'success') throw new Error(`Submit: ${submitted.run.status}`);
		t += 60_000;
		const collected = await runWorkflow(job({ operation: 'collect' }), {
			nodeTypes: nodeTypes(),
			input: [{ json: {} }],
			credentials,
		});
		const batch = side(collected.items('LLM Batch Job', 0), collected.items('LLM Batch Job', 1));
		const billed = sandbox.batch.stats().billed;
		batch.usd =
			costUsd(
				MODEL,
				{ inputTokens: billed.inputTokens, outputTokens: billed.outputTokens },
				{ batch: true },
			) ?? NaN;

		let same = 0;
		for (const [id, answer] of realtime.answers) if (batch.answers.get(id) === answer) same++;
		const pct = (batch.usd / realtime.usd) * 100;
		console.log(
			'| scenario | invoices | realtime (billed) | batch (billed) | batch / realtime | same answers | failed |',
		);
		console.log('|---|---|---|---|---|---|---|');
		console.log(
			`| Gemini batch vs Gemini realtime, same invoices (${MODEL}) | ${n} | $${realtime.usd.toFixed(6)} | $${batch.usd.toFixed(6)} | ${pct.toFixed(1)} % | ${same}/${n} | ${realtime.failed} + ${batch.failed} |`,
		);
		console.log(
			`items' own costUsd: realtime $${realtime.nodeUsd.toFixed(6)}, batch $${batch.nodeUsd.toFixed(6)}`,
		);
		const ok =
			same === n &&
			Math.abs(pct - 50) < 0.01 &&
			// Each item's cost is rounded to 1e-10 USD: n of them may differ from the whole by n × 1e-10.
			Math.abs(realtime.nodeUsd - realtime.usd) <= n * 1e-10 &&
			Math.abs(batch.nodeUsd - batch.usd) <= n * 1e-10;
		if (!ok) process.exitCode = 1;
	} finally {
		await sandbox.close();
	}
}

/** Answers by record ID and the items' own cost fields. */
function side(success: INodeExecutionData[], failed: INodeExecutionData[]): Side {
	const answers = new Map<string, string>();
	let nodeUsd = 0;
	for (const s of success) {
		const llm = s.json.llm as { recordId: string; output: unknown; costUsd?: number };
		answers.set(llm.recordId, JSON.stringify(llm.output));
		nodeUsd += llm.costUsd ?? NaN;
	}
	return { usd: 0, nodeUsd, answers, failed: failed.length };
}

void main();
