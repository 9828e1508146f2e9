// Helpers for the e2e layer: a fresh n8n user folder with the packed package community-installed,
// and readers for the run data `n8n execute --rawOutput` prints.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

// Plain ESM helpers shared with `npm start` (scripts/n8n/*.mjs are not compiled by tsc).
// @ts-expect-error -- untyped .mjs module
import * as lib from '../../scripts/n8n/lib.mjs';

export const n8n = lib as {
	OWNER: { email: string; password: string; firstName: string; lastName: string };
	CREDENTIAL_IDS: { openAi: string; anthropic: string };
	assertN8nInstalled(): void;
	freePort(): Promise<number>;
	packPackage(destDir: string): Promise<string>;
	installPackage(userFolder: string, tarball: string): Promise<string>;
	startSandbox(args?: string[], opts?: { timeoutMs?: number }): Promise<Sandbox>;
	sandboxCredentials(url: string): unknown[];
	importCredentials(
		userFolder: string,
		credentials: unknown[],
		opts?: { env?: Record<string, string> },
	): Promise<unknown>;
	importWorkflow(
		userFolder: string,
		file: string,
		opts?: { env?: Record<string, string> },
	): Promise<unknown>;
	importWorkflowDir(userFolder: string, dir: string): Promise<unknown>;
	publishWorkflow(
		userFolder: string,
		id: string,
		opts?: { env?: Record<string, string> },
	): Promise<unknown>;
	executeWorkflow(
		userFolder: string,
		id: string,
		opts?: { env?: Record<string, string>; timeoutMs?: number },
	): Promise<Execution>;
	startN8n(
		userFolder: string,
		opts?: { port?: number; env?: Record<string, string>; timeoutMs?: number },
	): Promise<RunningN8n>;
	ownerEnv(): Record<string, string>;
	login(baseUrl: string): Promise<string>;
	waitForWebhook(
		baseUrl: string,
		path: string,
		opts?: { method?: string; timeoutMs?: number },
	): Promise<void>;
	exampleFiles(): string[];
	n8nCli(
		userFolder: string,
		args: string[],
		opts?: { env?: Record<string, string>; timeoutMs?: number; allowFailure?: boolean },
	): Promise<{ code: number; stdout: string; stderr: string; ms: number }>;
	stopProcess(child: unknown, graceMs?: number): Promise<void>;
};

export interface Sandbox {
	url: string;
	port: number;
	output(): string;
	stop(): Promise<void>;
	configure(options: Record<string, unknown>): Promise<unknown>;
	reset(): Promise<unknown>;
	stats(): Promise<SandboxStats>;
}

export interface SandboxStats {
	requests: number;
	firstArrivalAt: number;
	lastAnswerAt: number;
	accepted: number;
	byStatus: Record<string, number>;
	rateLimited: number;
	faults: Record<string, number>;
	maxInFlight: number;
	paidSuccesses: number;
	duplicateSuccesses: number;
}

export interface RunningN8n {
	baseUrl: string;
	port: number;
	output(): string;
	stop(): Promise<void>;
}

export interface Item {
	json: Record<string, unknown>;
	pairedItem?: { item: number; input?: number } | Array<{ item: number; input?: number }>;
}

interface NodeRun {
	executionStatus?: string;
	error?: { message?: string };
	data?: { main?: Array<Item[] | null> };
}

export interface Run {
	status: string;
	finished: boolean;
	mode: string;
	data: {
		resultData: {
			runData: Record<string, NodeRun[]>;
			error?: { message?: string };
			lastNodeExecuted?: string;
		};
	};
}

export interface Execution {
	run: Run;
	exitCode: number | null;
	signal: string | null;
	ms: number;
	stdout: string;
	stderr: string;
}

/** A fresh user folder with the packed package installed into `.n8n/nodes`. */
export async function freshUserFolder(
	label: string,
): Promise<{ userFolder: string; tarball: string; cleanup(): void }> {
	n8n.assertN8nInstalled();
	const userFolder = mkdtempSync(path.join(os.tmpdir(), `llm-batch-e2e-${label}-`));
	const tarball = await n8n.packPackage(path.join(userFolder, 'pack'));
	await n8n.installPackage(userFolder, tarball);
	return {
		userFolder,
		tarball,
		cleanup: () => {
			if (!process.env.LLM_BATCH_KEEP_E2E) rmSync(userFolder, { recursive: true, force: true });
		},
	};
}

/** All items a node emitted on each output, over all its runs (a retry loop runs a node again). */
export function outputs(run: Run, node: string): Item[][] {
	const runs = run.data.resultData.runData[node];
	if (!runs)
		throw new Error(
			`node "${node}" did not run; ran: ${Object.keys(run.data.resultData.runData).join(', ')}`,
		);
	const result: Item[][] = [];
	for (const r of runs) {
		(r.data?.main ?? []).forEach((items, index) => {
			result[index] ??= [];
			result[index].push(...(items ?? []));
		});
	}
	return result;
}

/** Item counts per output of a node, e.g. `[8, 2]`. */
export function counts(run: Run, node: string): number[] {
	return Array.from(outputs(run, node), (items) => items?.length ?? 0);
}

export function pairedIndex(item: Item): number {
	const p = Array.isArray(item.pairedItem) ? item.pairedItem[0] : item.pairedItem;
	if (!p || typeof p.item !== 'number')
		throw new Error(`item without pairedItem: ${JSON.stringify(item).slice(0, 300)}`);
	return p.item;
}

/** Node names of a workflow file by type (e.g. 'n8n-nodes-llm-batch.llmBatchCall'). */
export function nodesOfType(workflow: WorkflowJson, type: string): string[] {
	return workflow.nodes.filter((n) => n.type === type).map((n) => n.name);
}

export interface WorkflowJson {
	id: string;
	name: string;
	active?: boolean;
	nodes: Array<{
		id: string;
		name: string;
		type: string;
		typeVersion: number;
		position: [number, number];
		parameters: Record<string, unknown>;
		credentials?: Record<string, { id: string; name: string }>;
		webhookId?: string;
	}>;
	connections: Record<
		string,
		{ main: Array<Array<{ node: string; type: string; index: number }>> }
	>;
	[key: string]: unknown;
}

export function readWorkflow(file: string): WorkflowJson {
	return JSON.parse(readFileSync(file, 'utf8')) as WorkflowJson;
}

/**
 * `n8n execute` starts only at a Manual Trigger (or Execute Workflow Trigger). For an example that
 * starts at a Schedule/Webhook trigger, write a copy with a Manual Trigger wired to the same nodes.
 */
export function withManualTrigger(workflow: WorkflowJson, dir: string): string {
	const copy = structuredClone(workflow);
	const hasManual = copy.nodes.some((n) => n.type === 'n8n-nodes-base.manualTrigger');
	if (!hasManual) {
		const trigger = copy.nodes.find((n) => /trigger|webhook/i.test(n.type));
		if (!trigger) throw new Error(`${workflow.name}: no trigger node to mirror`);
		copy.nodes.push({
			id: '00000000-0000-4000-8000-00000000e2e0',
			name: 'E2E Manual Trigger',
			type: 'n8n-nodes-base.manualTrigger',
			typeVersion: 1,
			position: [trigger.position[0], trigger.position[1] + 200],
			parameters: {},
		});
		copy.connections['E2E Manual Trigger'] = structuredClone(copy.connections[trigger.name]);
	}
	const file = path.join(dir, `${copy.id}.json`);
	writeFileSync(file, JSON.stringify(copy, null, 2));
	return file;
}

/**
 * One part of a multi-trigger example (a nightly submit, a 15-minute poll) as its own workflow
 * for `n8n execute`: a copy with id `id` whose Manual Trigger is wired like `trigger`, every
 * Schedule Trigger removed.
 */
export function startingAt(workflow: WorkflowJson, trigger: string, id: string): WorkflowJson {
	const copy = structuredClone(workflow);
	copy.id = id;
	copy.name = `${workflow.name} (${trigger})`;
	const t = copy.nodes.find((n) => n.name === trigger)!;
	const wiring = structuredClone(copy.connections[trigger]);
	for (const n of copy.nodes.filter((x) => x.type.endsWith('scheduleTrigger')))
		delete copy.connections[n.name];
	copy.nodes = copy.nodes.filter((n) => !n.type.endsWith('scheduleTrigger'));
	copy.nodes.push({
		id: `00000000-0000-4000-8000-0000000e2e${id.length}`,
		name: 'E2E Manual Trigger',
		type: 'n8n-nodes-base.manualTrigger',
		typeVersion: 1,
		position: [t.position[0], t.position[1] + 200],
		parameters: {},
	});
	copy.connections['E2E Manual Trigger'] = wiring;
	return copy;
}

/**
 * Returns a copy of the workflow whose Code node `codeNode` (run once for all items) runs `snippet`
 * on its `items` before returning them: how a test plants bad rows or sandbox fault directives
 * (`[[sandbox:fail-first:N:kind]]`) in an example's sample data without editing the example.
 */
export function patchCodeNodeItems(
	workflow: WorkflowJson,
	codeNode: string,
	snippet: string,
): WorkflowJson {
	const copy = structuredClone(workflow);
	const node = copy.nodes.find((n) => n.name === codeNode);
	if (!node || node.type !== 'n8n-nodes-base.code')
		throw new Error(`${workflow.name}: no Code node "${codeNode}"`);
	const original = String(node.parameters.jsCode);
	node.parameters.jsCode = `const items = (() => {\n${original}\n})();\n${snippet}\nreturn items;`;
	return copy;
}

/** Measured durations, printed at the end of a file so the report can quote them. */
export const timings: Record<string, number> = {};
export async function timed<T>(label: string, fn: () => Promise<T>): Promise<T> {
	const start = Date.now();
	try {
		return await fn();
	} finally {
		timings[label] = Date.now() - start;
	}
}
export function printTimings(file: string): void {
	const lines = Object.entries(timings).map(([k, v]) => `  ${k}: ${(v / 1000).toFixed(1)} s`);
	process.stdout.write(`[e2e timings ${file}]\n${lines.join('\n')}\n`);
}
