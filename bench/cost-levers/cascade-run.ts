/**
 * Runs example 10 (the cheap-first cascade) in-process against a sandbox: its tickets, its
 * nodes and Batch Report as shipped, with limits raised for a local run. Shared by the
 * cost-levers bench and the workflow test that checks the example, so both measure the same
 * workflow. The variants `strongOnly` and `cheapOnly` run the same pipeline with one model in
 * the first call's place and no confidence rule (nothing escalates): one call per ticket, the
 * counterfactuals' real bills.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

import type { ICredentialDataDecryptedObject, IDataObject, INodeExecutionData } from 'n8n-workflow';

import { resetSharedFlow } from '../../core/call/limiter/in-process';
import { costUsd } from '../../core/cost';
import type { Report } from '../../core/report';
import type { Sandbox } from '../../sandbox/server';
import { runWorkflow, type WorkflowJson } from '../../scripts/lib/harness';
import { packageNodeTypes } from '../../scripts/lib/node-types';

export const CASCADE_EXAMPLE = '10-cheap-first-cascade.json';
export const CHEAP_MODEL = 'gpt-4o-mini';
export const STRONG_MODEL = 'gpt-4o';

/** The repository's examples folder, from the sources (bench/…) or the build (build/bench/…). */
export function examplesDir(): string {
	for (const up of [
		['..', '..'],
		['..', '..', '..'],
	]) {
		const dir = join(__dirname, ...up, 'examples');
		if (existsSync(join(dir, CASCADE_EXAMPLE))) return dir;
	}
	throw new Error(`examples/${CASCADE_EXAMPLE} not found from ${__dirname}`);
}

export function loadExample(file: string): WorkflowJson {
	return JSON.parse(readFileSync(join(examplesDir(), file), 'utf8')) as WorkflowJson;
}

/** The example's tickets (its Code node's data), `n` of them. */
export function cascadeTickets(n: number): INodeExecutionData[] {
	const subjects = [
		'Invoice shows the wrong amount',
		'App crashes on login',
		'Please add dark mode',
		'Cannot reset my password',
		'Refund still pending',
	];
	const bodies = [
		'I was charged twice for the March invoice, please check order 4411.',
		'Since the last update the iOS app closes right after I enter my password.',
		'It would be great to have a dark theme for the dashboard at night.',
		'The reset link in the email says it expired, I tried three times today.',
		'I returned the item two weeks ago and have not received the refund yet.',
	];
	return Array.from({ length: n }, (_, i) => ({
		json: {
			ticketId: `T${String(i + 1).padStart(5, '0')}`,
			subject: subjects[i % 5],
			body: `${bodies[i % 5]} (ticket ${i + 1})`,
		},
	}));
}

export type CascadeVariant = 'cascade' | 'strongOnly' | 'cheapOnly';

/** The shipped example with local limits; the `…Only` variants answer every ticket once with one model. */
export function cascadeWorkflow(variant: CascadeVariant = 'cascade'): WorkflowJson {
	const wf = loadExample(CASCADE_EXAMPLE);
	const strongOnly = variant === 'strongOnly';
	return {
		...wf,
		nodes: wf.nodes.map((n) => {
			if (n.type === 'n8n-nodes-llm-batch.llmBatchCall') {
				const p = n.parameters;
				return {
					...n,
					parameters: {
						...p,
						...(strongOnly && n.name === 'Cheap model' ? { model: STRONG_MODEL } : {}),
						concurrency: 16,
						requestsPerMinute: 60_000,
						tokensPerMinute: 50_000_000,
						options: { ...(p.options as IDataObject), progressIntervalSeconds: 0 },
					},
				};
			}
			if (variant !== 'cascade' && n.name === 'Sure?')
				return { ...n, parameters: { ...n.parameters, useConfidence: false } };
			return n;
		}),
	};
}

export interface CascadeRun {
	/** recordId -> the final answer without its confidence (strong.output when escalated). */
	answers: Map<string, string>;
	/** Tickets the strong model answered in the cascade. */
	escalated: number;
	/** Answers whose result names another record. */
	misattributed: number;
	report: Report;
	/** USD per model from the sandbox's billed usage, priced by core/cost.ts. */
	billedUsd: Record<string, number>;
}

const withoutConfidence = (output: unknown) => {
	const { confidence: _c, ...rest } = (output ?? {}) as Record<string, unknown>;
	return JSON.stringify(rest);
};

/** What the sandbox billed per model, at list prices. */
export function billedUsd(sandbox: Sandbox): Record<string, number> {
	const out: Record<string, number> = {};
	for (const [model, b] of Object.entries(sandbox.stats().billedByModel)) {
		const usd = costUsd(model, {
			inputTokens: b.inputTokens,
			outputTokens: b.outputTokens,
			cachedInputTokens: b.cacheReadTokens,
			cacheWriteTokens: b.cacheWriteTokens,
		});
		if (usd === undefined) throw new Error(`no price for ${model}`);
		out[model] = usd;
	}
	return out;
}

export async function runCascade(
	sandbox: Sandbox,
	tickets: INodeExecutionData[],
	variant: CascadeVariant = 'cascade',
): Promise<CascadeRun> {
	resetSharedFlow();
	sandbox.reset();
	const credentials: Record<string, ICredentialDataDecryptedObject> = {
		llmBatchOpenAiApi: { apiKey: 'bench', baseUrl: `${sandbox.url}/v1` },
	};
	const r = await runWorkflow(cascadeWorkflow(variant), {
		nodeTypes: packageNodeTypes(),
		credentials,
		pinData: { 'Open tickets': tickets },
	});
	if (r.run.status !== 'success') throw new Error(`cascade run ${r.run.status}`);
	const answers = new Map<string, string>();
	let misattributed = 0;
	const take = (items: INodeExecutionData[], field: 'llm' | 'strong') => {
		for (const { json } of items) {
			const result = json[field] as { recordId?: string; output?: unknown };
			if (result.recordId !== json.recordId) misattributed++;
			answers.set(String(json.recordId), withoutConfidence(result.output));
		}
	};
	take(r.items('Sure?', 0), 'llm');
	take(r.items('Check strong answers', 0), 'strong');
	const reports = r.items('Batch Report', 0);
	if (reports.length !== 1) throw new Error(`expected one report, got ${reports.length}`);
	return {
		answers,
		escalated: r.items('Strong model', 0).length + r.items('Strong model', 1).length,
		misattributed,
		report: reports[0].json as unknown as Report,
		billedUsd: billedUsd(sandbox),
	};
}
