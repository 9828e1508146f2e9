// Checks a run of the batch pipeline (Batch Prepare → LLM Batch Call → Validate Output →
// Route Failures ↺ → Batch Report) as `n8n execute` returned it: per node and per output the item
// counts, `pairedItem` back to the node's real input, result fields against the sandbox's
// deterministic answers, every record in exactly one final output, and the report's numbers.
import { expect } from 'vitest';

import { ERROR_CODES } from '../../core/types';
import { expectedReply } from '../../sandbox/reply';
import { pairedIndex, type Item, type Run, type WorkflowJson } from './harness';

const PKG = 'n8n-nodes-llm-batch.';

export interface PipelineCounts {
	source: number;
	ready: number;
	rejected: number;
	callRuns: number;
	callInputs: number;
	success: number;
	failed: number;
	valid: number;
	invalid: number;
	review: number;
	retry: number;
	deadLetter: number;
	filtered: number;
	errorCodes: Record<string, number>;
	report: Record<string, unknown>;
	alerts: number;
}

/** The pipeline's node of each type, when an example has more (example 01's sample gate). */
const PIPELINE_NAMES: Record<string, string> = {
	batchPrepare: 'Batch Prepare',
	llmBatchCall: 'LLM Batch Call',
	validateOutput: 'Validate Output',
	routeFailures: 'Route Failures',
	batchReport: 'Batch Report',
};

function nodeOfType(workflow: WorkflowJson, type: string) {
	let nodes = workflow.nodes.filter((n) => n.type === PKG + type);
	if (nodes.length > 1) nodes = nodes.filter((n) => n.name === PIPELINE_NAMES[type]);
	expect(nodes, `${workflow.name}: exactly one ${type} node`).toHaveLength(1);
	return nodes[0];
}

/** The items a node's run `runIndex` received: the output of the node and run its `source` names. */
function inputOf(run: Run, node: string, runIndex: number): Item[] {
	const nodeRun = run.data.resultData.runData[node][runIndex] as unknown as {
		source: Array<{
			previousNode: string;
			previousNodeOutput?: number;
			previousNodeRun?: number;
		} | null>;
	};
	const src = nodeRun.source?.[0];
	if (!src) throw new Error(`${node} run ${runIndex} has no source`);
	const prev = run.data.resultData.runData[src.previousNode][src.previousNodeRun ?? 0];
	return prev.data?.main?.[src.previousNodeOutput ?? 0] ?? [];
}

function runsOf(run: Run, node: string): Array<Array<Item[]>> {
	const runs = run.data.resultData.runData[node];
	if (!runs)
		throw new Error(
			`node "${node}" did not run; ran: ${Object.keys(run.data.resultData.runData).join(', ')}`,
		);
	return runs.map((r) => (r.data?.main ?? []).map((items) => items ?? []));
}

/** Every item of every output, paired to an input index; together they cover each input exactly once. */
function expectPartition(node: string, runIndex: number, input: Item[], outs: Item[][]): void {
	const all = outs.flat();
	expect(all.length, `${node} run ${runIndex}: items out = items in`).toBe(input.length);
	expect(
		all.map(pairedIndex).sort((a, b) => a - b),
		`${node} run ${runIndex}: pairedItem covers each input once`,
	).toEqual(input.map((_, i) => i));
}

/** Renders the simple `={{ $json.field }}` prompt templates the examples use. */
function renderPrompt(template: string, json: Record<string, unknown>): string {
	const body = template.startsWith('=') ? template.slice(1) : template;
	return body.replace(/\{\{\s*\$json\.([A-Za-z0-9_]+)\s*\}\}/g, (_, field: string) =>
		String(json[field] ?? ''),
	);
}

export function checkPipeline(run: Run, workflow: WorkflowJson): PipelineCounts {
	const prepare = nodeOfType(workflow, 'batchPrepare');
	const call = nodeOfType(workflow, 'llmBatchCall');
	const validate = nodeOfType(workflow, 'validateOutput');
	const route = nodeOfType(workflow, 'routeFailures');
	const report = nodeOfType(workflow, 'batchReport');

	// Source → Batch Prepare: Ready · Rejected, input fields kept, paired to the source item.
	const [prepRun] = runsOf(run, prepare.name);
	const source = inputOf(run, prepare.name, 0);
	expect(source.length).toBeGreaterThan(0);
	const [ready, rejected] = [prepRun[0] ?? [], prepRun[1] ?? []];
	expectPartition(prepare.name, 0, source, [ready, rejected]);
	for (const item of [...ready, ...rejected]) {
		const from = source[pairedIndex(item)].json;
		for (const [k, v] of Object.entries(from))
			expect(item.json[k], `${prepare.name} keeps ${k}`).toEqual(v);
	}
	const recordIdField = String(prepare.parameters.recordIdField ?? 'id');
	const idOfSource = (i: number) => String(source[i].json[recordIdField]);

	// LLM Batch Call, once per pass of the retry loop: Success · Failed.
	const schemaText =
		call.parameters.outputFormat === 'json' ? String(call.parameters.jsonSchema) : undefined;
	const schema = schemaText ? (JSON.parse(schemaText) as object) : undefined;
	const callRuns = runsOf(run, call.name);
	let callInputs = 0;
	const success: Item[] = [];
	const failed: Item[] = [];
	callRuns.forEach((outs, r) => {
		const input = inputOf(run, call.name, r);
		callInputs += input.length;
		const [ok, bad] = [outs[0] ?? [], outs[1] ?? []];
		expectPartition(call.name, r, input, [ok, bad]);
		for (const item of ok) {
			const from = input[pairedIndex(item)].json;
			expect(item.json.recordId).toBe(from.recordId);
			const llm = item.json.llm as Record<string, unknown>;
			const prompt = renderPrompt(String(call.parameters.prompt), from);
			// The sandbox's answer is a pure function of the prompt: the result belongs to this item.
			expect(llm, `${call.name} result of ${String(from.recordId)}`).toMatchObject({
				recordId: from.recordId,
				output: expectedReply({ prompt, schema }).output ?? expectedReply({ prompt }).text,
				provider: call.parameters.provider ?? 'openai',
				model: call.parameters.model,
				finishReason: 'stop',
			});
			expect(llm.attempts).toBeGreaterThanOrEqual(1);
		}
		for (const item of bad) {
			const from = input[pairedIndex(item)].json;
			expect(item.json.recordId).toBe(from.recordId);
			const error = item.json.error as {
				code: string;
				message: string;
				attempts: number;
				retryable: boolean;
			};
			expect(ERROR_CODES, `error code of ${String(from.recordId)}`).toContain(error.code);
			expect(typeof error.message).toBe('string');
			expect(error.attempts).toBeGreaterThanOrEqual(1);
			expect(JSON.stringify(item.json)).not.toMatch(/sandbox-key|"apiKey"|Bearer /);
		}
		success.push(...ok);
		failed.push(...bad);
	});

	// Validate Output: Valid · Invalid · Review.
	const valid: Item[] = [];
	const invalid: Item[] = [];
	const review: Item[] = [];
	runsOf(run, validate.name).forEach((outs, r) => {
		const input = inputOf(run, validate.name, r);
		expectPartition(validate.name, r, input, [outs[0] ?? [], outs[1] ?? [], outs[2] ?? []]);
		for (const item of outs.flat())
			expect(item.json.recordId).toBe(input[pairedIndex(item)].json.recordId);
		valid.push(...(outs[0] ?? []));
		invalid.push(...(outs[1] ?? []));
		review.push(...(outs[2] ?? []));
	});
	expect(valid.length + invalid.length + review.length).toBe(success.length);

	// Route Failures: Retry (back into the call) · Dead Letter · Filtered.
	const retry: Item[] = [];
	const deadLetter: Item[] = [];
	const filtered: Item[] = [];
	const routeRuns = run.data.resultData.runData[route.name] ? runsOf(run, route.name) : [];
	routeRuns.forEach((outs, r) => {
		const input = inputOf(run, route.name, r);
		expectPartition(route.name, r, input, [outs[0] ?? [], outs[1] ?? [], outs[2] ?? []]);
		retry.push(...(outs[0] ?? []));
		deadLetter.push(...(outs[1] ?? []));
		filtered.push(...(outs[2] ?? []));
	});
	expect(failed.length).toBe(retry.length + deadLetter.length + filtered.length);
	for (const item of filtered)
		expect((item.json.error as { code: string }).code).toBe('content_filter');
	// The loop ends: every pass through the call got Ready items or Retry items, nothing else.
	expect(callInputs).toBe(ready.length + retry.length);
	expect(callRuns.length).toBeLessThanOrEqual(1 + Number(route.parameters.maxRetries ?? 3));

	// Every record ends in exactly one final output.
	const finalIds = [
		...rejected.map((i) => idOfSource(pairedIndex(i))),
		...[...valid, ...invalid, ...review, ...deadLetter, ...filtered].map((i) =>
			String(i.json.recordId),
		),
	].sort();
	expect(finalIds).toEqual(source.map((_, i) => idOfSource(i)).sort());

	// Batch Report: one report over the whole run whose numbers equal what the outputs hold.
	const reportRuns = runsOf(run, report.name);
	const reports = reportRuns.flatMap((outs) => outs[0] ?? []);
	const alerts = reportRuns.flatMap((outs) => outs[1] ?? []);
	expect(reports, 'exactly one report item').toHaveLength(1);
	const rep = reports[0].json as {
		items: number;
		outcomes: Record<string, number>;
		byErrorCode: Record<string, number>;
		alerts: unknown[];
	};
	expect(rep.items).toBe(source.length);
	expect(rep.outcomes).toEqual({
		success: valid.length,
		review: review.length,
		invalid: invalid.length,
		failed: deadLetter.length,
		filtered: filtered.length,
		rejected: rejected.length,
	});
	expect(alerts).toHaveLength(rep.alerts.length > 0 ? 1 : 0);

	const errorCodes: Record<string, number> = {};
	for (const item of [...deadLetter, ...filtered]) {
		const code = (item.json.error as { code: string }).code;
		errorCodes[code] = (errorCodes[code] ?? 0) + 1;
	}
	return {
		source: source.length,
		ready: ready.length,
		rejected: rejected.length,
		callRuns: callRuns.length,
		callInputs,
		success: success.length,
		failed: failed.length,
		valid: valid.length,
		invalid: invalid.length,
		review: review.length,
		retry: retry.length,
		deadLetter: deadLetter.length,
		filtered: filtered.length,
		errorCodes,
		report: rep,
		alerts: alerts.length,
	};
}

/** recordId → the final output it ended in (rejected, valid, invalid, review, deadLetter, filtered). */
export function finalOutputsByRecord(run: Run, workflow: WorkflowJson): Record<string, string> {
	const result: Record<string, string> = {};
	const put = (node: string, names: string[]) => {
		const runs = run.data.resultData.runData[node];
		for (const r of runs ?? []) {
			(r.data?.main ?? []).forEach((items, o) => {
				if (!names[o]) return;
				for (const item of items ?? []) {
					const id = String(item.json.recordId);
					if (result[id])
						throw new Error(`${id} in two final outputs: ${result[id]} and ${names[o]}`);
					result[id] = names[o];
				}
			});
		}
	};
	put(nodeOfType(workflow, 'batchPrepare').name, ['', 'rejected']);
	put(nodeOfType(workflow, 'validateOutput').name, ['valid', 'invalid', 'review']);
	put(nodeOfType(workflow, 'routeFailures').name, ['', 'deadLetter', 'filtered']);
	return result;
}
