/**
 * `node build/bench/memory-documents-child.js <node|passthrough> <dir> [sandboxUrl] [provider]`
 * The in-process twin of `bench:memory-n8n --documents`: Read Files (every PDF in `dir`, into
 * n8n-core's binary store in filesystem mode, as n8n keeps binary data by default) -> LLM Batch
 * Call sending each file (Attachments = data, JSON Schema) or -> a pass-through. Prints
 * `RESULT {json}` with the peak RSS, so each arm is measured alone in a fresh process and
 * a run with `--trace-gc` shows where the heap grows, in seconds rather than an n8n start.
 */
import { createReadStream, mkdtempSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import type { IExecuteFunctions, INodeExecutionData, INodeParameters } from 'n8n-workflow';

import { PassThroughNode, runWorkflow } from '../scripts/lib/harness';
import { linearWorkflow, llmBatchCallStep } from '../scripts/lib/workflow-builder';
import { INVOICE_SCHEMA } from '../test/helpers/pdf';
import { nodeTypes } from './common';

const CONCURRENCY = 32;
/** LLM_BATCH_TIMELINE=1: the memory every half second on stderr. */
const TIMELINE = process.env.LLM_BATCH_TIMELINE === '1';
const mb = (b: number) => Math.round(b / 2 ** 20);

/** n8n-core's binary data service, switched to filesystem mode in a temp folder. */
async function filesystemBinaryMode(): Promise<void> {
	const fromCore = createRequire(require.resolve('n8n-core'));
	const { Container } = fromCore('@n8n/di') as { Container: { get(t: unknown): unknown } };
	const { BinaryDataService } = fromCore('n8n-core') as { BinaryDataService: unknown };
	const service = Container.get(BinaryDataService) as {
		config: { mode: string; localStoragePath: string };
		init(): Promise<void>;
	};
	service.config.mode = 'filesystem';
	service.config.localStoragePath = mkdtempSync(join(tmpdir(), 'n8n-binary-'));
	await service.init();
}

/** Read Files as n8n's is: one item per file, streamed into the binary store. */
class ReadFiles extends PassThroughNode {
	async execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
		const dir = READ_DIR;
		const items: INodeExecutionData[] = [];
		for (const fileName of readdirSync(dir)
			.filter((f) => f.endsWith('.pdf'))
			.sort())
			items.push({
				json: { fileName },
				binary: {
					data: await this.helpers.prepareBinaryData(
						createReadStream(join(dir, fileName)),
						fileName,
						'application/pdf',
					),
				},
				pairedItem: { item: 0 },
			});
		return [items];
	}
}
let READ_DIR = '';

async function main(): Promise<void> {
	const [mode, dir, url, provider = 'openai'] = process.argv.slice(2);
	if (mode !== 'node' && mode !== 'passthrough') throw new Error('Expected node | passthrough');
	READ_DIR = dir;
	await filesystemBinaryMode();
	const started = performance.now();
	// What made the peak: the process's memory sampled as it runs, the largest RSS kept.
	let atPeak = process.memoryUsage();
	const sampler = setInterval(() => {
		const m = process.memoryUsage();
		if (m.rss > atPeak.rss) atPeak = m;
		if (TIMELINE && ++ticks % 25 === 0)
			console.error(
				`t=${Math.round(performance.now() - started)}ms rss=${mb(m.rss)} heapTotal=${mb(m.heapTotal)} heapUsed=${mb(m.heapUsed)} external=${mb(m.external)} arrayBuffers=${mb(m.arrayBuffers)}`,
			);
	}, 20);
	let ticks = 0;
	const model =
		provider === 'anthropic'
			? 'claude-3-5-haiku-latest'
			: provider === 'gemini'
				? 'gemini-2.5-flash'
				: 'gpt-4.1-mini';
	const step =
		mode === 'node'
			? llmBatchCallStep(
					{
						provider,
						model,
						prompt: 'Extract this invoice into the record.',
						recordId: '={{ $json.fileName }}',
						outputFormat: 'json',
						jsonSchema: JSON.stringify(INVOICE_SCHEMA),
						concurrency: CONCURRENCY,
						requestsPerMinute: 100_000_000,
						tokensPerMinute: 1e12,
						options: {
							maxTokens: 400,
							progressIntervalSeconds: 10,
							attachments: process.env.LLM_BATCH_ATTACH ?? 'data',
						},
					} as INodeParameters,
					'LLM Batch Call',
					'bench',
				)
			: { name: 'Pass Through', type: 'n8n-nodes-base.noOp' };
	const wf = linearWorkflow({ name: 'Read PDFs', type: 'test.readFiles' }, step);
	const u = url ?? 'http://127.0.0.1:9';
	const res = await runWorkflow(wf, {
		nodeTypes: { ...nodeTypes(), 'test.readFiles': new ReadFiles() },
		credentials: {
			llmBatchOpenAiApi: { apiKey: 'bench', baseUrl: `${u}/v1` },
			llmBatchAnthropicApi: { apiKey: 'bench', baseUrl: u },
			llmBatchGeminiApi: { apiKey: 'bench', baseUrl: u },
		},
	});
	if (res.run.status !== 'success')
		throw new Error(
			`workflow ended with status ${res.run.status}: ${res.run.data.resultData.error?.message}`,
		);
	const name = mode === 'node' ? 'LLM Batch Call' : 'Pass Through';
	const out = res.items(name, 0).length;
	const failed = mode === 'node' ? res.items(name, 1).length : 0;
	const maxRssBytes = process.resourceUsage().maxRSS * 1024;
	const durationMs = performance.now() - started;
	clearInterval(sampler);
	const sampled = {
		rss: mb(atPeak.rss),
		heapTotal: mb(atPeak.heapTotal),
		heapUsed: mb(atPeak.heapUsed),
		external: mb(atPeak.external),
		arrayBuffers: mb(atPeak.arrayBuffers),
	};
	console.log(
		`RESULT ${JSON.stringify({ mode, out, failed, maxRssBytes, durationMs, sampledMb: sampled })}`,
	);
	if (res.run.data.resultData.runData[name]?.length !== 1) throw new Error('outputs changed');
}

main().then(
	() => process.exit(0),
	(e: unknown) => {
		console.error(e);
		process.exit(1);
	},
);
