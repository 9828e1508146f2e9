/**
 * Keys never leak, for LLM Batch Job: a batch API that echoes the API key — in a
 * refused call, in a refused batch's reasons, in every result line's error and request ID —
 * never gets it into an output, the run data, a log line or the ledger. Real workflows
 * (WorkflowExecute) with the official SDKs against a scripted server.
 */
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import type { INode, INodeExecutionData } from 'n8n-workflow';
import { afterAll, describe, expect, it } from 'vitest';

import { closeAllStores } from '../../core/ledger';
import { runWorkflow, type WorkflowJson } from '../helpers/harness';
import {
	startScriptedServer,
	type ScriptedReply,
	type SeenRequest,
} from '../helpers/scripted-server';

afterAll(async () => closeAllStores());

type P = 'openai' | 'anthropic';
const KEYS: Record<P, string> = {
	openai: 'sk-proj-Zq8LEAKTEST0123456789abcdefGHIJ',
	anthropic: 'sk-ant-api03-LEAKTEST0123456789abcdef-XYZW',
};
const SECRET = 'LEAKTEST0123456789abcdef';
const RECORDS = ['R0', 'R1', 'R2'];
const refusal = (key: string) => `The input file is not valid for ${key} (x-api-key: ${key})`;
const echo = (key: string) => `Incorrect API key provided: ${key} (Authorization: Bearer ${key})`;

/** The custom_ids the node uploaded (the file's lines or the requests), by record: result lines echo them. */
function uploadedIds(req: SeenRequest, ids: Map<string, string>): void {
	for (const m of req.raw.matchAll(/"custom_id":"([^"]+)"/g))
		ids.set(RECORDS.find((r) => m[1].endsWith(`-${r}`)) ?? m[1], m[1]);
}

const input = (): INodeExecutionData[] =>
	RECORDS.map((id, i) => ({ json: { id, text: `question ${i}` } }));

function jobNode(provider: P, ledger: string, parameters: Record<string, unknown>): INode {
	return {
		id: 'job',
		name: 'LLM Batch Job',
		type: 'n8n-nodes-llm-batch.llmBatchJob',
		typeVersion: 1,
		position: [200, 0],
		parameters: {
			provider,
			jobName: 'leak',
			ledgerStore: 'sqlite',
			ledgerSqlitePath: ledger,
			...parameters,
		},
		credentials:
			provider === 'openai'
				? { llmBatchOpenAiApi: { id: '1', name: 'hostile' } }
				: { llmBatchAnthropicApi: { id: '2', name: 'hostile' } },
	};
}

function single(node: INode): WorkflowJson {
	return {
		nodes: [
			{
				id: 't',
				name: 'Start',
				type: 'n8n-nodes-base.manualTrigger',
				typeVersion: 1,
				position: [0, 0],
				parameters: {},
			},
			node,
		],
		connections: { Start: { main: [[{ node: node.name, type: 'main', index: 0 }]] } },
	};
}

const submitParams = (provider: P) => ({
	operation: 'submit',
	model: provider === 'openai' ? 'gpt-4o-mini' : 'claude-3-5-haiku-latest',
	prompt: '={{ $json.text }}',
	recordId: '={{ $json.id }}',
	outputFormat: 'text',
});

const NOW = Math.floor(Date.parse('2026-12-01T02:00:00Z') / 1000);

/** A batch API that accepts the batch, then echoes the key wherever it can. */
function hostileOpenAi(url: string, key: string, failBatch: boolean) {
	const ids = new Map<string, string>();
	const batch = (status: string) => ({
		id: 'batch_leak',
		object: 'batch',
		endpoint: '/v1/chat/completions',
		input_file_id: 'file-in',
		completion_window: '24h',
		status,
		created_at: NOW,
		expires_at: NOW + 86_400,
		output_file_id: null,
		error_file_id: status === 'completed' ? 'file-err' : null,
		request_counts: { total: 3, completed: 0, failed: status === 'completed' ? 3 : 0 },
		metadata: {},
		...(status === 'failed'
			? { errors: { object: 'list', data: [{ code: 'invalid_key', message: echo(key), line: 1 }] } }
			: {}),
	});
	return (req: SeenRequest): ScriptedReply => {
		const path = req.path.split('?')[0];
		if (path === '/v1/files') {
			uploadedIds(req, ids);
			return {
				status: 200,
				body: {
					id: 'file-in',
					object: 'file',
					bytes: 10,
					created_at: NOW,
					filename: 'in.jsonl',
					purpose: 'batch',
				},
			};
		}
		if (path === '/v1/batches' && req.body.input_file_id)
			return { status: 200, body: batch('validating') };
		if (path === '/v1/batches')
			return { status: 200, body: { object: 'list', data: [], has_more: false } };
		if (path === '/v1/batches/batch_leak')
			return { status: 200, body: batch(failBatch ? 'failed' : 'completed') };
		if (path === '/v1/files/file-err/content')
			return {
				status: 200,
				headers: { 'content-type': 'application/jsonl' },
				body: RECORDS.map((id) =>
					JSON.stringify({
						id: `line_${id}`,
						custom_id: ids.get(id),
						response: {
							status_code: 401,
							request_id: `req_${key}`,
							body: { error: { message: echo(key), type: 'invalid_request_error', code: key } },
						},
						error: null,
					}),
				).join('\n'),
			};
		return { status: 404, body: { error: { message: `no route ${path} for ${key}` } } };
	};
}

function hostileAnthropic(url: string, key: string) {
	const ids = new Map<string, string>();
	const batch = (ended: boolean) => ({
		id: 'msgbatch_leak',
		type: 'message_batch',
		processing_status: ended ? 'ended' : 'in_progress',
		request_counts: {
			processing: ended ? 0 : 3,
			succeeded: 0,
			errored: ended ? 3 : 0,
			canceled: 0,
			expired: 0,
		},
		created_at: new Date(NOW * 1000).toISOString(),
		expires_at: new Date((NOW + 86_400) * 1000).toISOString(),
		ended_at: ended ? new Date((NOW + 60) * 1000).toISOString() : null,
		cancel_initiated_at: null,
		archived_at: null,
		results_url: ended ? `${url}/v1/messages/batches/msgbatch_leak/results` : null,
	});
	return (req: SeenRequest): ScriptedReply => {
		const path = req.path.split('?')[0];
		if (path === '/v1/messages/batches' && Array.isArray(req.body.requests)) {
			uploadedIds(req, ids);
			return { status: 200, body: batch(false) };
		}
		if (path === '/v1/messages/batches')
			return {
				status: 200,
				body: { data: [], has_more: false, first_id: null, last_id: null },
			};
		if (path === '/v1/messages/batches/msgbatch_leak') return { status: 200, body: batch(true) };
		if (path === '/v1/messages/batches/msgbatch_leak/results')
			return {
				status: 200,
				headers: { 'content-type': 'application/x-jsonl', 'request-id': `req_${key}` },
				body: RECORDS.map((id) =>
					JSON.stringify({
						custom_id: ids.get(id),
						result: {
							type: 'errored',
							error: {
								type: 'error',
								error: { type: 'authentication_error', message: echo(key) },
								request_id: `req_${key}`,
							},
						},
					}),
				).join('\n'),
			};
		return {
			status: 404,
			body: { type: 'error', error: { type: 'not_found_error', message: key } },
		};
	};
}

/** Every place a secret could end up after a run: none may hold the key or its body. */
async function expectNoLeak(places: Record<string, string>, ledger: string): Promise<void> {
	await closeAllStores();
	const files = [ledger, `${ledger}-wal`].filter(existsSync);
	expect(files.length).toBeGreaterThan(0);
	const all = {
		...places,
		ledger: files.map((f) => readFileSync(f).toString('latin1')).join('\n'),
	};
	for (const [where, text] of Object.entries(all))
		expect({ where, leaked: text.includes(SECRET) }).toEqual({ where, leaked: false });
}

describe.each(['openai', 'anthropic'] as const)(
	'LLM Batch Job, hostile batch API: %s',
	(provider) => {
		const key = KEYS[provider];
		const creds = (url: string) => ({
			[provider === 'openai' ? 'llmBatchOpenAiApi' : 'llmBatchAnthropicApi']: {
				apiKey: key,
				baseUrl: provider === 'openai' ? `${url}/v1` : url,
			},
		});

		it('a refused Submit: the node error keeps the provider wording, not the key', async () => {
			const server = await startScriptedServer(() => ({
				status: 400,
				headers: { 'x-echo-key': key, 'x-request-id': `req_${key}` },
				body:
					provider === 'openai'
						? { error: { message: refusal(key), type: 'invalid_request_error', code: key } }
						: { type: 'error', error: { type: 'invalid_request_error', message: refusal(key) } },
			}));
			const ledger = join(mkdtempSync(join(tmpdir(), 'batch-leak-')), 'ledger.sqlite');
			const logs: string[] = [];
			try {
				const { run } = await runWorkflow(
					single(jobNode(provider, ledger, submitParams(provider))),
					{
						input: input(),
						credentials: creds(server.url),
						logger: (line: string) => logs.push(line),
					},
				);
				expect(server.requests.length).toBeGreaterThan(0);
				const error = run.data.resultData.error;
				expect(error?.message).toMatch(/input file is not valid for \[redacted\]/);
				await expectNoLeak(
					{
						runData: JSON.stringify(run.data.resultData),
						error: JSON.stringify({ ...error, stack: error?.stack }),
						logs: logs.join('\n'),
					},
					ledger,
				);
			} finally {
				await server.close();
			}
		});

		const cases = provider === 'openai' ? [false, true] : [false];
		it.each(cases)(
			'Check Status and Collect over echoed keys (refused batch: %s): each record Failed once, nothing holds the key',
			async (failBatch) => {
				let handler: ((req: SeenRequest) => ScriptedReply) | undefined;
				const server = await startScriptedServer((req) => {
					handler ??=
						provider === 'openai'
							? hostileOpenAi(server.url, key, failBatch)
							: hostileAnthropic(server.url, key);
					return handler(req);
				});
				const ledger = join(mkdtempSync(join(tmpdir(), 'batch-leak-')), 'ledger.sqlite');
				const logs: string[] = [];
				const opts = {
					credentials: creds(server.url),
					logger: (line: string) => logs.push(line),
				};
				try {
					const submitted = await runWorkflow(
						single(jobNode(provider, ledger, submitParams(provider))),
						{ ...opts, input: input() },
					);
					expect(submitted.run.status).toBe('success');
					const status = await runWorkflow(
						single(jobNode(provider, ledger, { operation: 'status' })),
						opts,
					);
					const collect = await runWorkflow(
						single(jobNode(provider, ledger, { operation: 'collect' })),
						opts,
					);
					expect(collect.run.status).toBe('success');
					const ok = collect.items('LLM Batch Job', 0);
					const failed = collect.items('LLM Batch Job', 1);
					expect(ok).toHaveLength(0);
					expect(
						failed
							.map((f) => (f.json.llm as { recordId?: string } | undefined)?.recordId ?? f.json.id)
							.sort(),
					).toEqual(RECORDS);
					const message = (failed[0].json.error as { message: string }).message;
					expect(message).toMatch(
						failBatch ? /rejected the batch: .*\[redacted\]/ : /refused the credential \(401\)/,
					);
					await expectNoLeak(
						{
							submit: JSON.stringify(submitted.run.data.resultData),
							status: JSON.stringify(status.run.data.resultData),
							collect: JSON.stringify(collect.run.data.resultData),
							hints: JSON.stringify([submitted.hints, status.hints, collect.hints]),
							logs: logs.join('\n'),
						},
						ledger,
					);
				} finally {
					await server.close();
				}
			},
		);
	},
);
