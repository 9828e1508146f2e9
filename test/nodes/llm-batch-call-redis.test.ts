/**
 * LLM Batch Call with "Share Limits Through: Redis" against a real redis-server: the shared
 * budget, what happens when Redis is unreachable (each choice), the credential test, and
 * the "Record ID + Result Only" output.
 */
import type { ICredentialsDecrypted, ICredentialTestFunctions } from 'n8n-workflow';
import { NodeOperationError } from 'n8n-workflow';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import { createRedisClient } from '../../core/call/limiter/redis-connection';
import { resetSharedFlow } from '../../core/call/limiter/in-process';
import { executeLlmBatchCall } from '../../nodes/LlmBatchCall/execute';
import { llmBatchRedisConnectionTest } from '../../nodes/shared/credential-tests';
import { startSandbox } from '../../sandbox/server';
import { RecordingClock } from '../helpers/recording-clock';
import { mockExecute, type MockOptions } from '../helpers/mock-execute';
import {
	findRedisServer,
	freePort,
	skipWithoutRedis,
	startRedis,
	stopRedis,
	type TestRedis,
} from '../helpers/redis';

const SECRET = 'sk-test-SECRET-redis';
let redis: TestRedis;

beforeAll(async () => {
	if (!findRedisServer()) return; // each test skips itself (skipWithoutRedis)
	redis = await startRedis({ password: 'redis-node-test' });
});
afterAll(async () => {
	await stopRedis(redis);
});
beforeEach(skipWithoutRedis);
beforeEach(() => resetSharedFlow());

function stubFetch() {
	const prompts: string[] = [];
	const fetchImpl = (async (_url: string, init: RequestInit) => {
		const body = JSON.parse(String(init.body)) as { messages: Array<{ content: string }> };
		const text = body.messages[body.messages.length - 1].content;
		prompts.push(text);
		return new Response(
			JSON.stringify({
				id: 'c1',
				object: 'chat.completion',
				created: 0,
				model: 'gpt-4o-mini',
				choices: [
					{
						index: 0,
						message: { role: 'assistant', content: `re: ${text}` },
						finish_reason: 'stop',
					},
				],
				usage: { prompt_tokens: 12, completion_tokens: 3, total_tokens: 15 },
			}),
			{ status: 200, headers: { 'content-type': 'application/json' } },
		);
	}) as unknown as typeof fetch;
	return { fetchImpl, prompts };
}

function credentials(port = redis.port, password = redis.password ?? '') {
	return {
		llmBatchOpenAiApi: { apiKey: SECRET, baseUrl: 'http://llm.test/v1' },
		llmBatchRedisApi: { host: '127.0.0.1', port, password, database: 1, tls: false },
	};
}

function params(extra: Record<string, unknown> = {}): MockOptions['parameters'] {
	return {
		provider: 'openai',
		model: 'gpt-4o-mini',
		systemPrompt: '',
		prompt: (_i: number, item: { json: Record<string, unknown> }) => item.json.text,
		recordId: (_i: number, item: { json: Record<string, unknown> }) => item.json.id,
		outputFormat: 'text',
		concurrency: 4,
		requestsPerMinute: 60_000,
		tokensPerMinute: 10_000_000,
		resultField: 'llm',
		shareLimitsThrough: 'redis',
		redisUnavailable: 'fallback',
		redisFallbackShare: 25,
		ledgerStore: 'none',
		options: { progressIntervalSeconds: 0 },
		...extra,
	};
}

const items = (prefix: string, n: number) =>
	Array.from({ length: n }, (_, i) => ({ id: `${prefix}${i}`, text: `${prefix} ticket ${i}` }));

describe('LLM Batch Call sharing limits through Redis', () => {
	it('two executions at once meet on one Redis key that holds no secret, and every item ends on Success', async () => {
		const { fetchImpl, prompts } = stubFetch();
		const run = (prefix: string) =>
			executeLlmBatchCall(
				mockExecute({ items: items(prefix, 20), parameters: params(), credentials: credentials() })
					.fns,
				{ fetch: fetchImpl },
			);
		const [a, b] = await Promise.all([run('a'), run('b')]);
		expect(a[0].map((i) => i.json.id)).toEqual(items('a', 20).map((i) => i.id));
		expect(b[0].map((i) => i.json.id)).toEqual(items('b', 20).map((i) => i.id));
		expect(a[1]).toEqual([]);
		expect(b[1]).toEqual([]);
		expect(prompts).toHaveLength(40);

		const c = createRedisClient({ ...credentials().llmBatchRedisApi, database: 1 });
		await c.connect();
		try {
			const keys = await c.keys('*');
			expect(keys).toHaveLength(1);
			expect(keys[0]).toMatch(/^llm-batch:limit:[0-9a-f]{64}$/);
			const dump = JSON.stringify(await c.hgetall(keys[0])) + keys[0];
			expect(dump).not.toContain(SECRET);
		} finally {
			c.disconnect();
		}
	});

	it('a fallback model shares its limits through Redis too (its own key)', async () => {
		const c = createRedisClient({ ...credentials().llmBatchRedisApi, database: 1 });
		await c.connect();
		try {
			await c.flushdb();
			const { fetchImpl } = stubFetch();
			// The primary is overloaded; every item goes to the fallback.
			const overloaded = (async (url: string, init: RequestInit) => {
				const body = JSON.parse(String(init.body)) as { model: string };
				if (body.model === 'gpt-4o-mini')
					return new Response(JSON.stringify({ error: { message: 'overloaded' } }), {
						status: 503,
						headers: { 'content-type': 'application/json' },
					});
				return fetchImpl(url, init);
			}) as unknown as typeof fetch;
			const [success, failed] = await executeLlmBatchCall(
				mockExecute({
					items: items('f', 6),
					parameters: params({ fallbackProvider: 'openai', fallbackModels: 'gpt-4.1-mini' }),
					credentials: {
						...credentials(),
						llmBatchFallbackApi: { apiKey: SECRET, baseUrl: 'http://stub/v1' },
					},
				}).fns,
				{ fetch: overloaded },
			);
			expect(failed).toEqual([]);
			expect(success.map((s) => (s.json.llm as { fallback: number }).fallback)).toEqual(
				Array(6).fill(1),
			);
			const keys = await c.keys('*');
			expect(keys).toHaveLength(2);
			for (const k of keys) expect(k).toMatch(/^llm-batch:limit:[0-9a-f]{64}$/);
		} finally {
			c.disconnect();
		}
	});

	it('Redis unreachable and "Stop the Run": a configuration error before any call', async () => {
		const { fetchImpl, prompts } = stubFetch();
		const m = mockExecute({
			items: items('s', 3),
			parameters: params({ redisUnavailable: 'stop' }),
			credentials: credentials(await freePort()),
		});
		const err = await executeLlmBatchCall(m.fns, { fetch: fetchImpl }).catch((e: unknown) => e);
		expect(err).toBeInstanceOf(NodeOperationError);
		expect((err as NodeOperationError).message).toBe(
			'Redis (Share Limits Through) cannot be used; nothing was sent',
		);
		expect((err as NodeOperationError).description).toMatch(
			/^connection refused at 127\.0\.0\.1:\d+\. /,
		);
		expect(prompts).toEqual([]);
	});

	it('Redis unreachable and "Continue at a Share": every item succeeds at the stated share, with a warning in the log and the hint', async () => {
		const { fetchImpl } = stubFetch();
		const m = mockExecute({
			items: items('f', 5),
			parameters: params(),
			credentials: credentials(await freePort()),
		});
		const [success, failed] = await executeLlmBatchCall(m.fns, { fetch: fetchImpl });
		expect(success).toHaveLength(5);
		expect(failed).toEqual([]);
		const warn = m.logs.filter((l) => l.level === 'warn').map((l) => l.message);
		expect(warn[0]).toMatch(
			/Redis \(shared limits\) is unreachable: .* — this process continues alone at 25 % of the limits \(15,000 RPM, 2,500,000 TPM\) until Redis answers/,
		);
		expect(m.hints.map((h) => h.message)).toContainEqual(
			expect.stringMatching(
				/^Redis \(shared limits\) was unreachable 1× for \d+ s in all \(.*\): this process sent 5 requests on its own limiter at 25 % of the limits/,
			),
		);
		for (const l of m.logs) expect(l.message).not.toContain(SECRET);
	});

	it('"Record ID + Result Only" drops the input fields on Success', async () => {
		const { fetchImpl } = stubFetch();
		const m = mockExecute({
			items: [{ id: 'r1', text: 'hello', big: 'x'.repeat(1000) }],
			parameters: params({
				shareLimitsThrough: 'process',
				options: { progressIntervalSeconds: 0, outputFields: 'result' },
			}),
			credentials: credentials(),
		});
		const [success] = await executeLlmBatchCall(m.fns, { fetch: fetchImpl });
		expect(success).toHaveLength(1);
		expect(Object.keys(success[0].json)).toEqual(['recordId', 'llm']);
		expect(success[0].json.recordId).toBe('r1');
		expect(success[0].pairedItem).toEqual({ item: 0 });
	});
});

describe('LLM Batch Call through Redis keeps the flow controller’s behaviour', () => {
	const sandboxParams = (extra: Record<string, unknown> = {}) =>
		params({ requestsPerMinute: 6000, tokensPerMinute: 100_000_000, ...extra });
	const sandboxCreds = (url: string) => ({
		...credentials(),
		llmBatchOpenAiApi: { apiKey: SECRET, baseUrl: `${url}/v1` },
	});

	it('an hour-long Retry-After fails only its own item, capped by Max Retry-After; nothing stalls', async () => {
		const sb = await startSandbox({ profile: 'retry-after-hour', seed: 3 });
		try {
			const input = items('h', 200);
			const m = mockExecute({
				items: input,
				parameters: sandboxParams(),
				credentials: sandboxCreds(sb.url),
			});
			const clock = new RecordingClock();
			const [success, failed] = await executeLlmBatchCall(m.fns, { clock });
			// Nothing waited for the hour: no single wait reached a minute.
			expect(clock.longestSleep).toBeLessThan(60_000);
			const limited = sb.stats().faults.status429;
			expect(limited).toBeGreaterThan(0);
			expect(failed).toHaveLength(limited);
			expect(success).toHaveLength(200 - limited);
			for (const it of failed) {
				const err = it.json.error as { code: string; message: string };
				expect(err.code).toBe('rate_limited');
				expect(err.message).toMatch(
					/asked to wait 60 min \(Retry-After\), longer than Max Retry-After \(60 s\)/,
				);
			}
		} finally {
			await sb.close();
		}
	});

	it('two executions learn the provider’s lower limit from its headers and share it: few 429s, the hint names it', async () => {
		// configured 6,000 RPM; the server enforces 3,000 and says so in x-ratelimit-limit-requests
		const sb = await startSandbox({ profile: 'low-limit', rpm: 6000, seed: 5 });
		try {
			const runs = ['x', 'y'].map((prefix) => {
				const m = mockExecute({
					items: items(prefix, 100),
					parameters: sandboxParams({ concurrency: 8 }),
					credentials: sandboxCreds(sb.url),
				});
				return { m, done: executeLlmBatchCall(m.fns) };
			});
			for (const r of runs) {
				const [success, failed] = await r.done;
				expect(success).toHaveLength(100);
				expect(failed).toEqual([]);
				expect(r.m.hints.map((h) => h.message)).toContainEqual(
					expect.stringContaining('the provider limits lower (its headers say 3,000 RPM)'),
				);
			}
			const st = sb.stats();
			expect(st.paidSuccesses).toBe(200);
			expect(st.rateLimited).toBeLessThanOrEqual(Math.ceil(st.requests * 0.05));
		} finally {
			await sb.close();
		}
	});
});

describe('LLM Batch: Redis credential test', () => {
	const test = (data: Record<string, unknown>) =>
		llmBatchRedisConnectionTest.call(
			{} as ICredentialTestFunctions,
			{
				id: '1',
				name: 'r',
				type: 'llmBatchRedisApi',
				data,
			} as ICredentialsDecrypted,
		);

	it('passes with the right password', async () => {
		await expect(
			test({ host: '127.0.0.1', port: redis.port, password: redis.password, database: 0 }),
		).resolves.toEqual({ status: 'OK', message: 'Connection tested successfully' });
	});

	it('fails with Redis’s message for a wrong password, and for a closed port', async () => {
		const wrong = await test({ host: '127.0.0.1', port: redis.port, password: 'nope' });
		expect(wrong.status).toBe('Error');
		expect(wrong.message).toMatch(/^Redis: authentication failed \(WRONGPASS\) at 127\.0\.0\.1:/);
		expect(wrong.message).not.toContain('nope');
		const closed = await test({ host: '127.0.0.1', port: await freePort(), password: 'x' });
		expect(closed.status).toBe('Error');
		expect(closed.message).toMatch(/^Redis: connection refused at 127\.0\.0\.1:\d+$/);
	});
});
