/**
 * Keys never leak and answers stay honest against a deliberately broken provider, in a real workflow (WorkflowExecute):
 * keys echoed back never leave the provider layer (item 4).
 */
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import type { INodeParameters } from 'n8n-workflow';
import { afterAll, describe, expect, it } from 'vitest';

import { closeAllStores } from '../../core/ledger';
import { linearWorkflow, llmBatchCallStep } from '../../scripts/lib/workflow-builder';
import { runWorkflow, type WorkflowJson } from '../helpers/harness';
import { startScriptedServer, type ScriptedReply } from '../helpers/scripted-server';

afterAll(async () => closeAllStores());

function workflow(provider: 'openai' | 'anthropic', params: Record<string, unknown>): WorkflowJson {
	return linearWorkflow(
		llmBatchCallStep(
			{
				provider,
				model: provider === 'openai' ? 'gpt-4o-mini' : 'claude-haiku-4-5',
				prompt: '={{ $json.text }}',
				recordId: '={{ $json.id }}',
				outputFormat: 'text',
				...params,
			} as INodeParameters,
			'LLM Batch Call',
			'hostile',
		),
	);
}

const input = (n: number) =>
	Array.from({ length: n }, (_, i) => ({ json: { id: `R${i}`, text: `question ${i}` } }));

const KEYS = {
	openai: 'sk-proj-Zq8LEAKTEST0123456789abcdefGHIJ',
	anthropic: 'sk-ant-api03-LEAKTEST0123456789abcdef-XYZW',
};

function echoKey(provider: 'openai' | 'anthropic', status: number, key: string): ScriptedReply {
	const text = `Incorrect API key provided: ${key}. You can find your API key at https://example.invalid`;
	// Another key of the provider's usual shape (a leaked neighbour, a masked form of this one).
	const pattern =
		provider === 'openai' ? 'sk-proj-OTHERKEY987654321zyx' : 'sk-ant-api03-OTHERKEY9876543';
	return {
		status,
		headers: { 'x-echo-key': key, 'x-request-id': `req_${key}` },
		body:
			provider === 'openai'
				? {
						error: {
							message: `${text} (also ${pattern})`,
							type: 'invalid_request_error',
							code: key,
						},
					}
				: { type: 'error', error: { type: 'api_error', message: `${text} (also ${pattern})` } },
	};
}

describe('hostile provider, in a workflow', () => {
	for (const provider of ['openai', 'anthropic'] as const) {
		it(`redacts an echoed API key from messages, hints, logs and the ledger (${provider})`, async () => {
			const key = KEYS[provider];
			for (const status of [400, 404, 500]) {
				const server = await startScriptedServer(() => echoKey(provider, status, key));
				const dir = mkdtempSync(join(tmpdir(), 'leak-'));
				const ledger = join(dir, 'ledger.sqlite');
				const logs: string[] = [];
				try {
					const { items, hints, run } = await runWorkflow(
						workflow(provider, {
							ledgerStore: 'sqlite',
							ledgerJob: 'leak',
							ledgerSqlitePath: ledger,
							options: { maxAttempts: 2, progressIntervalSeconds: 0 },
						}),
						{
							input: input(3),
							credentials: {
								[provider === 'openai' ? 'llmBatchOpenAiApi' : 'llmBatchAnthropicApi']: {
									apiKey: key,
									baseUrl: provider === 'openai' ? `${server.url}/v1` : server.url,
								},
							},
							logger: (line: string) => logs.push(line),
						},
					);
					expect(server.requests.length).toBeGreaterThan(0);
					const failed = items('LLM Batch Call', 1);
					// A 404 on the first request is a configuration that cannot work: the
					// node stops with a configuration error after that one request, no item output.
					const configError = status === 404;
					if (configError) {
						expect(server.requests).toHaveLength(1);
						expect(run.data.resultData.error?.message).toMatch(/^Configuration error/);
					} else expect(failed).toHaveLength(3);
					// The harness logger saw the node's lines (the places scanned are not empty).
					if (!configError) expect(logs.some((l) => l.includes('finished'))).toBe(true);
					await closeAllStores();
					const files = [ledger, `${ledger}-wal`].filter(existsSync);
					const places = {
						outputs: JSON.stringify([items('LLM Batch Call', 0), failed]),
						hints: JSON.stringify(hints),
						logs: logs.join('\n'),
						runData: JSON.stringify(run.data.resultData),
						ledger: files.map((f) => readFileSync(f).toString('latin1')).join('\n'),
					};
					const secret = key.slice(key.indexOf('LEAKTEST'));
					for (const [where, text] of Object.entries(places)) {
						expect({ where, status, leaked: text.includes(secret) }).toEqual({
							where,
							status,
							leaked: false,
						});
						expect({ where, status, other: /OTHERKEY/.test(text) }).toEqual({
							where,
							status,
							other: false,
						});
					}
					if (configError) continue;
					// Still useful: the message keeps the status and the provider's wording.
					const error = failed[0].json.error as { message: string; status: number };
					expect(error.status).toBe(status);
					expect(error.message).toContain('Incorrect API key provided: [redacted]');
				} finally {
					await server.close();
				}
			}
		});
	}
});
