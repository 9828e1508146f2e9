import http from 'node:http';
import type { AddressInfo } from 'node:net';

import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { nodeHttpFetch } from '../../../core/call/providers/http-fetch';
import { expectedReply, startSandbox, type Sandbox } from '../../../sandbox/server';

describe('nodeHttpFetch under the official SDKs', () => {
	let sandbox: Sandbox;
	let openai: OpenAI;
	beforeAll(async () => {
		sandbox = await startSandbox({ hangMs: 5000 });
		openai = new OpenAI({
			apiKey: 'k',
			baseURL: `${sandbox.url}/v1`,
			maxRetries: 0,
			fetch: nodeHttpFetch,
		});
	});
	afterAll(async () => sandbox.close());
	const ask = (content: string, timeout = 5000) =>
		openai.chat.completions.create(
			{ model: 'gpt-4o-mini', messages: [{ role: 'user', content }], max_tokens: 20 },
			{ timeout },
		);

	it('returns the parsed answer, usage and request id', async () => {
		const res = await ask('hello there');
		expect(res.choices[0].message.content).toBe(expectedReply({ prompt: 'hello there' }).text);
		expect(res.usage?.prompt_tokens).toBeGreaterThan(0);
		expect(res._request_id).toMatch(/^req_/);
	});

	it('works for Anthropic with its headers', async () => {
		const client = new Anthropic({
			apiKey: 'k',
			baseURL: sandbox.url,
			maxRetries: 0,
			fetch: nodeHttpFetch,
		});
		const res = await client.messages.create({
			model: 'claude-3-5-haiku-latest',
			max_tokens: 20,
			messages: [{ role: 'user', content: 'hi' }],
		});
		expect(res.content[0]).toMatchObject({
			type: 'text',
			text: expectedReply({ prompt: 'hi' }).text,
		});
	});

	it('surfaces HTTP errors with status and headers (429 Retry-After)', async () => {
		const err = await ask('x [[sandbox:status429]]').catch((e) => e);
		expect(err).toBeInstanceOf(OpenAI.RateLimitError);
		expect(err.headers.get('retry-after')).toBe('1');
	});

	it('turns the SDK timeout into APIConnectionTimeoutError and a reset into APIConnectionError', async () => {
		// The sandbox holds the request 5 s, then drops the socket (a plain connection error): a
		// timeout error can only come from the 300 ms timeout.
		expect(await ask('x [[sandbox:hang]]', 300).catch((e) => e)).toBeInstanceOf(
			OpenAI.APIConnectionTimeoutError,
		);
		const reset = await ask('x [[sandbox:reset]]').catch((e) => e);
		expect(reset).toBeInstanceOf(OpenAI.APIConnectionError);
		expect(reset).not.toBeInstanceOf(OpenAI.APIConnectionTimeoutError);
	});

	it('aborts on the caller signal', async () => {
		const ac = new AbortController();
		const p = openai.chat.completions.create(
			{ model: 'm', messages: [{ role: 'user', content: 'x [[sandbox:hang]]' }], max_tokens: 5 },
			{ signal: ac.signal },
		);
		setTimeout(() => ac.abort(), 50);
		expect(await p.catch((e) => e)).toBeInstanceOf(OpenAI.APIUserAbortError);
	});
});

describe("nodeHttpFetch's answer headers", () => {
	it('reads every header as node:http combines it: first of a single-valued one, cookies and lists joined', async () => {
		const raw = [
			['Content-Type', 'application/json'],
			['content-type', 'text/plain'],
			['Retry-After', '3'],
			['retry-after', '9'],
			['X-RateLimit-Remaining-Requests', '41'],
			['Vary', 'Accept'],
			['vary', 'Origin'],
			['Set-Cookie', 'a=1'],
			['Set-Cookie', 'b=2'],
			['X-Request-Id', 'req_1'],
		];
		const server = http.createServer((_req, res) => {
			res.writeHead(200, raw.flat());
			res.end('{}');
		});
		await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
		const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
		try {
			const ours = await nodeHttpFetch(url);
			const theirs = await new Promise<http.IncomingMessage>((resolve) =>
				http.get(url, (res) => resolve(res.resume())),
			);
			const expected = Object.entries(theirs.headers)
				.map(([k, v]) => [k, Array.isArray(v) ? v.join(', ') : v] as [string, string])
				.sort(([a], [b]) => (a < b ? -1 : 1));
			expect([...ours.headers.entries()]).toEqual(expected);
			for (const [name, value] of expected) {
				expect(ours.headers.get(name.toUpperCase())).toBe(value);
				expect(ours.headers.has(name)).toBe(true);
			}
			expect(ours.headers.get('content-type')).toBe('application/json');
			expect(ours.headers.get('retry-after')).toBe('3');
			expect(ours.headers.get('vary')).toBe('Accept, Origin');
			expect(ours.headers.get('x-missing')).toBeNull();
			expect(ours.headers.has('x-missing')).toBe(false);
		} finally {
			await new Promise((resolve) => server.close(resolve));
		}
	});
});
