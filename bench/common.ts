/**
 * Helpers shared by the benchmark parts: the sandbox in its own process (so its CPU and
 * memory are never counted as the client's), the workflow the node runs in, a fetch
 * recorder for timing, and small statistics.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

import type { INodeExecutionData, INodeParameters, INodeType } from 'n8n-workflow';

import { LlmBatchCall } from '../nodes/LlmBatchCall/LlmBatchCall.node';
import { PassThroughNode, type WorkflowJson } from '../scripts/lib/harness';
import { linearWorkflow, llmBatchCallStep } from '../scripts/lib/workflow-builder';

export const MODEL = 'gpt-4o-mini';
/** Max tokens per request, the same for every contender. */
export const MAX_TOKENS = 64;
export const API_KEY = 'bench';

/** `build/bench/x.js` -> `build/<rel>`, so the benchmark runs from any build output folder. */
export function distPath(rel: string): string {
	return join(__dirname, '..', rel);
}

export interface SandboxProcess {
	url: string;
	/** The sandbox's counters (GET /sandbox/stats). */
	stats(windowMs?: number): Promise<RemoteStats>;
	close(): Promise<void>;
}

/** `SandboxStats` as the control route serialises it (window maxima computed for one window). */
export interface RemoteStats {
	requests: number;
	/** Wall-clock ms at the sandbox: first call in, last answer out. */
	firstArrivalAt: number;
	lastAnswerAt: number;
	accepted: number;
	byStatus: Record<string, number>;
	rateLimited: number;
	maxInFlight: number;
	paidSuccesses: number;
	duplicateSuccesses: number;
	connections: number;
	windowMs: number;
	maxRequestsPerWindow: number;
}

/** Spawns `build/sandbox/cli.js` on a free port and waits for its "listening on" line. */
export async function spawnSandbox(args: string[] = []): Promise<SandboxProcess> {
	const child: ChildProcess = spawn(
		process.execPath,
		[distPath('sandbox/cli.js'), '--port', '0', ...args],
		{
			stdio: ['ignore', 'pipe', 'inherit'],
		},
	);
	const url = await new Promise<string>((resolve, reject) => {
		const lines = createInterface({ input: child.stdout! });
		const timer = setTimeout(() => reject(new Error('sandbox did not start within 15 s')), 15_000);
		lines.on('line', (line) => {
			const m = /listening on (http:\/\/[^\s]+)/.exec(line);
			if (m) {
				clearTimeout(timer);
				resolve(m[1]);
			}
		});
		child.once('exit', (code) => {
			clearTimeout(timer);
			reject(new Error(`sandbox exited with code ${code} before listening`));
		});
	});
	return {
		url,
		async stats(windowMs = 60_000) {
			const res = await fetch(`${url}/sandbox/stats?windowMs=${windowMs}`);
			return (await res.json()) as RemoteStats;
		},
		close: () =>
			new Promise<void>((resolve) => {
				if (child.exitCode !== null) return resolve();
				child.once('exit', () => resolve());
				child.kill('SIGTERM');
			}),
	};
}

export function nodeTypes(): Record<string, INodeType> {
	return {
		'n8n-nodes-base.manualTrigger': new PassThroughNode(),
		'n8n-nodes-base.noOp': new PassThroughNode(),
		'n8n-nodes-llm-batch.llmBatchCall': new LlmBatchCall(),
	};
}

export function credentials(url: string) {
	return { llmBatchOpenAiApi: { apiKey: API_KEY, baseUrl: `${url}/v1` } };
}

/** Start -> LLM Batch Call (text output), with the given node parameters on top. */
export function llmWorkflow(params: Record<string, unknown>): WorkflowJson {
	return linearWorkflow(
		llmBatchCallStep(
			{
				model: MODEL,
				prompt: '={{ $json.text }}',
				recordId: '={{ $json.id }}',
				outputFormat: 'text',
				...params,
			} as INodeParameters,
			'LLM Batch Call',
			'bench',
		),
	);
}

/** Start -> a node that passes its items through: the baseline for memory. */
export function passThroughWorkflow(): WorkflowJson {
	return linearWorkflow({ name: 'Pass Through', type: 'n8n-nodes-base.noOp' });
}

export function ticketText(i: number): string {
	return `Ticket ${i}: my invoice ${i * 7} was charged twice, please refund the second payment.`;
}

export function tickets(n: number): INodeExecutionData[] {
	return Array.from({ length: n }, (_, i) => ({
		json: { id: `T${String(i).padStart(6, '0')}`, text: ticketText(i) },
	}));
}

export function median(xs: number[]): number {
	const s = [...xs].sort((a, b) => a - b);
	const m = s.length >> 1;
	return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export function gc(): void {
	(globalThis as { gc?: () => void }).gc?.();
}

export interface Sizes {
	quick: boolean;
	utilisationItems: number;
	overheadItems: number;
	overheadRounds: number;
	memoryItems: number;
}

/** `--quick` shrinks every part for a smoke run (about 1 min instead of about 6). */
export function sizesFrom(argv: string[]): Sizes {
	const quick = argv.includes('--quick');
	return quick
		? { quick, utilisationItems: 200, overheadItems: 500, overheadRounds: 4, memoryItems: 2_000 }
		: {
				quick,
				utilisationItems: 2_000,
				overheadItems: 2_000,
				overheadRounds: 8,
				memoryItems: 20_000,
			};
}
