/**
 * What the Submit promise tests share: an LLM Batch Job workflow on SQLite or PostgreSQL,
 * both providers' sandbox credentials, and what the sandbox was paid for, per record.
 */
import { createServer, request as httpRequest, type IncomingMessage } from 'node:http';
import { mkdtempSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import type { ICredentialDataDecryptedObject, INodeExecutionData } from 'n8n-workflow';

import type { Sandbox } from '../../sandbox/server';
import { linearWorkflow } from '../../scripts/lib/workflow-builder';
import { createTestDatabase } from '../helpers/postgres';

export type P = 'openai' | 'anthropic' | 'gemini';
export type Kind = 'sqlite' | 'postgres';
export const MODEL: Record<P, string> = {
	openai: 'gpt-4o-mini',
	anthropic: 'claude-3-5-haiku-latest',
	gemini: 'gemini-2.5-flash',
};

export interface Ledger {
	params: Record<string, unknown>;
	credentials: Record<string, ICredentialDataDecryptedObject>;
}

/** A fresh ledger (a new SQLite file or a new PostgreSQL database). */
export async function freshLedger(kind: Kind, prefix: string): Promise<Ledger> {
	if (kind === 'sqlite') {
		const path = join(mkdtempSync(join(tmpdir(), `${prefix}-`)), 'ledger.sqlite');
		return { params: { ledgerStore: 'sqlite', ledgerSqlitePath: path }, credentials: {} };
	}
	const db = await createTestDatabase(prefix.replace(/[^a-z]/g, '').slice(0, 12) || 'submit');
	return {
		params: { ledgerStore: 'postgres' },
		credentials: {
			llmBatchPostgresApi: {
				host: db.host,
				port: db.port,
				database: db.database,
				user: db.user,
				password: db.password,
				ssl: 'disable',
			},
		},
	};
}

export function credentialsFor(url: string, ledger: Ledger) {
	return {
		llmBatchOpenAiApi: { apiKey: 'sandbox-key', baseUrl: `${url}/v1` },
		llmBatchAnthropicApi: { apiKey: 'sandbox-key', baseUrl: url },
		llmBatchGeminiApi: { apiKey: 'sandbox-key', baseUrl: url },
		...ledger.credentials,
	};
}

const CREDENTIAL: Record<P, string> = {
	openai: 'llmBatchOpenAiApi',
	anthropic: 'llmBatchAnthropicApi',
	gemini: 'llmBatchGeminiApi',
};

export function jobWorkflow(
	provider: P,
	ledger: Ledger,
	job: string,
	parameters: Record<string, unknown>,
) {
	return linearWorkflow({
		name: 'LLM Batch Job',
		type: 'llmBatchJob',
		parameters: { provider, jobName: job, ...ledger.params, ...parameters },
		credentials: {
			[CREDENTIAL[provider]]: 'sandbox',
			...(ledger.params.ledgerStore === 'postgres' ? { llmBatchPostgresApi: 'pg' } : {}),
		},
		outputs: 2,
	});
}

export const submitParams = (provider: P, extra: Record<string, unknown> = {}) => ({
	operation: 'submit',
	model: MODEL[provider],
	prompt: '={{ $json.text }}',
	recordId: '={{ $json.id }}',
	outputFormat: 'text',
	...extra,
});

export const tickets = (n: number, prefix = 'row', text = (i: number) => `Ticket ${i}`) =>
	Array.from(
		{ length: n },
		(_, i): INodeExecutionData => ({ json: { id: `${prefix}-${i + 1}`, text: text(i + 1) } }),
	);

/**
 * The record a custom_id the sandbox received stands for: the record ID after a submission
 * nonce (12 lowercase letters or digits and a dash), or the custom_id itself (no nonce).
 */
export const recordOf = (customId: string) => customId.replace(/^[0-9a-z]{12}-/, '');

/** How many times each record was sent to the provider in an accepted batch. */
export function paidPerRecord(sandbox: Sandbox): Map<string, number> {
	const out = new Map<string, number>();
	for (const [customId, n] of sandbox.batch.stats().received) {
		const id = recordOf(customId);
		out.set(id, (out.get(id) ?? 0) + n);
	}
	return out;
}

/**
 * A proxy in front of the sandbox: `fault` may answer a request itself (a refused create),
 * drop it unanswered (`drop`: the provider never saw it), or forward it and drop the answer
 * (`swallow`: the provider did it, the caller never hears) or answer 500 instead
 * (`done-then-500`); `pass` forwards as is.
 */
export async function faultProxy(
	target: string,
	fault: (
		method: string,
		path: string,
		n: number,
	) => 'pass' | 'drop' | 'swallow' | 'done-then-500' | { status: number; body: unknown },
) {
	const t = new URL(target);
	let n = 0;
	const server = createServer((req, res) => {
		const verdict = fault(req.method ?? 'GET', req.url ?? '', ++n);
		if (verdict === 'drop') {
			req.resume();
			req.on('end', () => res.socket?.destroy());
			return;
		}
		if (typeof verdict === 'object') {
			req.resume();
			req.on('end', () => {
				res.writeHead(verdict.status, { 'content-type': 'application/json' });
				res.end(JSON.stringify(verdict.body));
			});
			return;
		}
		const up = httpRequest(
			{
				host: t.hostname,
				port: t.port,
				method: req.method,
				path: req.url,
				headers: { ...req.headers, host: t.host },
			},
			(r: IncomingMessage) => {
				if (verdict === 'swallow') {
					// The provider did it; its answer never reaches the caller.
					r.resume();
					r.on('end', () => res.socket?.destroy());
					return;
				}
				if (verdict === 'done-then-500') {
					// The provider did it, then answered with a server error.
					r.resume();
					r.on('end', () => {
						res.writeHead(500, { 'content-type': 'application/json' });
						res.end(
							JSON.stringify({
								error: { message: 'The server had an error', type: 'server_error' },
							}),
						);
					});
					return;
				}
				res.writeHead(r.statusCode ?? 502, r.headers);
				r.pipe(res);
			},
		);
		up.on('error', () => res.destroy());
		req.pipe(up);
	});
	await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
	const { port } = server.address() as AddressInfo;
	return {
		url: `http://127.0.0.1:${port}`,
		close: () =>
			new Promise<void>((resolve) => {
				server.closeAllConnections();
				server.close(() => resolve());
			}),
	};
}

/** A provider's "too many requests" answer to a batch create. */
export const tooManyRequests = (provider: P) => ({
	status: 429,
	body:
		provider === 'gemini'
			? {
					error: {
						code: 429,
						status: 'RESOURCE_EXHAUSTED',
						message: 'Resource has been exhausted (e.g. check quota).',
					},
				}
			: provider === 'openai'
				? {
						error: {
							message: 'Rate limit reached for batch creation',
							type: 'requests',
							code: 'rate_limit_exceeded',
						},
					}
				: {
						type: 'error',
						error: {
							type: 'rate_limit_error',
							message: 'Number of request tokens has exceeded your rate limit',
						},
					},
});

export const isCreate = (provider: P, method: string, path: string) =>
	method === 'POST' &&
	(provider === 'openai'
		? path.split('?')[0] === '/v1/batches'
		: provider === 'gemini'
			? path.split('?')[0].endsWith(':batchGenerateContent')
			: path.split('?')[0] === '/v1/messages/batches');
