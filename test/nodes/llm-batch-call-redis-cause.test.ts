/**
 * Share Limits Through = Redis with "Continue at a Share of the Limit": when Redis cannot be
 * used, the warning names the real cause — connection refused at host:port, authentication
 * failed (WRONGPASS / NOAUTH) — never ioredis's "Stream isn't writeable…", never the password.
 * No redis-server here: a fake TCP server speaks just enough RESP to refuse AUTH, and a closed
 * port is refused.
 */
import { createServer, type Server, type Socket } from 'node:net';

import {
	NodeOperationError,
	type ICredentialsDecrypted,
	type ICredentialTestFunctions,
} from 'n8n-workflow';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { resetSharedFlow } from '../../core/call/limiter/in-process';
import { describeRedisFailure } from '../../core/call/limiter/redis-connection';
import { executeLlmBatchCall } from '../../nodes/LlmBatchCall/execute';
import { llmBatchRedisConnectionTest } from '../../nodes/shared/credential-tests';
import { mockExecute } from '../helpers/mock-execute';
import { freePort } from '../helpers/redis';

const PASSWORD = 'hunter2-redis-secret';
const ITEMS = 5;

/** A "Redis" that answers AUTH with `reply` and anything else with an error. */
async function fakeRedis(
	reply: string,
): Promise<{ port: number; commands: string[]; server: Server }> {
	const commands: string[] = [];
	const sockets = new Set<Socket>();
	const server = createServer((socket) => {
		sockets.add(socket);
		socket.on('close', () => sockets.delete(socket));
		socket.on('data', (chunk) => {
			// RESP arrays: *N\r\n$len\r\nWORD\r\n… — the command name is the first bulk string.
			for (const part of chunk
				.toString('utf8')
				.split('*')
				.filter((p) => p.trim() !== '')) {
				const words = part.split('\r\n').filter((w, k) => k % 2 === 0 && w !== '');
				const name = (words[1] ?? '').toUpperCase();
				commands.push(name);
				socket.write(name === 'AUTH' ? reply : '-ERR not a real redis\r\n');
			}
		});
	});
	await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
	const address = server.address();
	const port = typeof address === 'object' && address ? address.port : 0;
	const close = server.close.bind(server);
	server.close = (cb?: (err?: Error) => void) => {
		for (const s of sockets) s.destroy();
		return close(cb);
	};
	return { port, commands, server };
}

function stubFetch() {
	let calls = 0;
	const fetchImpl = (async () => {
		calls++;
		return new Response(
			JSON.stringify({
				id: 'c1',
				object: 'chat.completion',
				created: 0,
				model: 'gpt-4o-mini',
				choices: [
					{ index: 0, message: { role: 'assistant', content: 'ok' }, finish_reason: 'stop' },
				],
				usage: { prompt_tokens: 12, completion_tokens: 3, total_tokens: 15 },
			}),
			{ status: 200, headers: { 'content-type': 'application/json' } },
		);
	}) as unknown as typeof fetch;
	return { fetchImpl, calls: () => calls };
}

async function runWithRedis(port: number, redisUnavailable: 'fallback' | 'stop' = 'fallback') {
	const m = mockExecute({
		items: Array.from({ length: ITEMS }, (_, i) => ({ id: `r${i}`, text: `item ${i}` })),
		parameters: {
			provider: 'openai',
			model: 'gpt-4o-mini',
			prompt: (_i: number, item: { json: Record<string, unknown> }) => item.json.text,
			recordId: (_i: number, item: { json: Record<string, unknown> }) => item.json.id,
			outputFormat: 'text',
			concurrency: 2,
			requestsPerMinute: 6000,
			tokensPerMinute: 1_000_000,
			resultField: 'llm',
			ledgerStore: 'none',
			shareLimitsThrough: 'redis',
			redisUnavailable,
			redisFallbackShare: 50,
			options: { progressIntervalSeconds: 0 },
		},
		credentials: {
			llmBatchOpenAiApi: { apiKey: 'sk-test-SECRET-redis', baseUrl: 'http://llm.test/v1' },
			llmBatchRedisApi: { host: '127.0.0.1', port, password: PASSWORD, database: 0, tls: false },
		},
	});
	const stub = stubFetch();
	const [success, failed] = await executeLlmBatchCall(m.fns, { fetch: stub.fetchImpl });
	const warnings = [
		...m.logs.filter((l) => l.level === 'warn').map((l) => l.message),
		...m.hints.filter((h) => h.type === 'warning').map((h) => h.message),
	];
	return { success, failed, warnings, calls: stub.calls() };
}

describe('Redis warnings name the real cause', () => {
	let servers: Server[] = [];
	beforeEach(() => resetSharedFlow());
	afterEach(async () => {
		await Promise.all(servers.map((s) => new Promise((r) => s.close(() => r(undefined)))));
		servers = [];
	});

	it('a wrong password: "authentication failed (WRONGPASS)", the password never shown', async () => {
		const fake = await fakeRedis(
			'-WRONGPASS invalid username-password pair or user is disabled.\r\n',
		);
		servers.push(fake.server);
		const run = await runWithRedis(fake.port);
		console.log(`[redis wrong password] warnings: ${JSON.stringify(run.warnings)}`);
		expect(fake.commands).toContain('AUTH');
		expect(run.success).toHaveLength(ITEMS);
		expect(run.failed).toEqual([]);
		expect(run.warnings.length).toBeGreaterThan(0);
		for (const w of run.warnings) {
			expect(w).toContain(`authentication failed (WRONGPASS) at 127.0.0.1:${fake.port}`);
			expect(w).not.toContain("Stream isn't writeable");
			expect(w).not.toContain(PASSWORD);
		}
	});

	it('a wrong password with "Stop the Run": the configuration error names the authentication failure', async () => {
		const fake = await fakeRedis(
			'-WRONGPASS invalid username-password pair or user is disabled.\r\n',
		);
		servers.push(fake.server);
		const err = await runWithRedis(fake.port, 'stop').catch((e: unknown) => e);
		expect(err).toBeInstanceOf(NodeOperationError);
		const { message, description } = err as NodeOperationError;
		console.log(`[redis wrong password, stop] ${message} — ${description}`);
		expect(message).toBe('Redis (Share Limits Through) cannot be used; nothing was sent');
		expect(description).toMatch(
			new RegExp(`^authentication failed \\(WRONGPASS\\) at 127\\.0\\.0\\.1:${fake.port}: `),
		);
		expect(`${message} ${description}`).not.toContain(PASSWORD);
	});

	it('a closed port: "connection refused at host:port"', async () => {
		const port = await freePort();
		const run = await runWithRedis(port);
		console.log(`[redis refused] warnings: ${JSON.stringify(run.warnings)}`);
		expect(run.success).toHaveLength(ITEMS);
		expect(run.warnings.length).toBeGreaterThan(0);
		for (const w of run.warnings) {
			expect(w).toContain(`connection refused at 127.0.0.1:${port}`);
			expect(w).not.toContain("Stream isn't writeable");
		}
	});

	it('the credential test says the same', async () => {
		const fake = await fakeRedis(
			'-WRONGPASS invalid username-password pair or user is disabled.\r\n',
		);
		servers.push(fake.server);
		const test = (data: Record<string, unknown>) =>
			llmBatchRedisConnectionTest.call(
				{} as ICredentialTestFunctions,
				{
					id: 'r',
					name: 'redis',
					type: 'llmBatchRedisApi',
					data,
				} as ICredentialsDecrypted,
			);
		const wrong = await test({ host: '127.0.0.1', port: fake.port, password: PASSWORD });
		expect(wrong).toEqual({
			status: 'Error',
			message: `Redis: authentication failed (WRONGPASS) at 127.0.0.1:${fake.port}: check the user and password of the LLM Batch: Redis credential`,
		});
		const port = await freePort();
		expect(await test({ host: '127.0.0.1', port, password: PASSWORD })).toEqual({
			status: 'Error',
			message: `Redis: connection refused at 127.0.0.1:${port}`,
		});
	});

	it('each cause in words: refused, authentication (WRONGPASS, NOAUTH), timeout, unknown host', () => {
		const at = { host: 'redis.internal', port: 6380 };
		const err = (message: string, code?: string) => Object.assign(new Error(message), { code });
		expect(
			describeRedisFailure(err('connect ECONNREFUSED 10.0.0.1:6380', 'ECONNREFUSED'), at),
		).toBe('connection refused at redis.internal:6380');
		expect(
			describeRedisFailure(
				err('WRONGPASS invalid username-password pair or user is disabled.'),
				at,
			),
		).toMatch(
			/^authentication failed \(WRONGPASS\) at redis\.internal:6380: check the user and password/,
		);
		expect(describeRedisFailure(err('NOAUTH Authentication required.'), at)).toMatch(
			/^authentication failed \(NOAUTH\) at redis\.internal:6380: the server needs a password/,
		);
		expect(describeRedisFailure(err('connect ETIMEDOUT', 'ETIMEDOUT'), at)).toBe(
			'no answer from redis.internal:6380 (timeout)',
		);
		expect(describeRedisFailure(err('Redis did not become ready within 5000 ms'), at)).toBe(
			'no answer from redis.internal:6380 (timeout)',
		);
		expect(describeRedisFailure(err('getaddrinfo ENOTFOUND redis.internal', 'ENOTFOUND'), at)).toBe(
			'the host name redis.internal does not resolve',
		);
	});
});
