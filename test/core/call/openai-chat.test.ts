/**
 * LLM Batch Call's OpenAI chat completion without the SDK's request pipeline
 * (core/call/providers/openai-chat.ts) answers and fails exactly as the SDK does: the same
 * request on the wire, the same parsed body and `_request_id`, the same error class, status,
 * body and message for every status, for a cut or empty body, a reset, a timeout and a cancel.
 */
import { describe, expect, it } from 'vitest';

import { openAiClient } from '../../../core/call/providers/clients';
import { openAiChatPoster } from '../../../core/call/providers/openai-chat';

type Reply = { status: number; body: string; headers?: Record<string, string> } | Error | 'hang';

const creds = { apiKey: 'sk-test-123456', baseUrl: 'http://x.test/v1/' };
const body = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], max_tokens: 5 };
const answer = JSON.stringify({
	id: 'c',
	object: 'chat.completion',
	model: 'gpt-4o-mini',
	choices: [{ index: 0, message: { role: 'assistant', content: 'ok' }, finish_reason: 'stop' }],
	usage: { prompt_tokens: 3, completion_tokens: 1, total_tokens: 4 },
});

/** A fetch that answers `reply` and records what it was sent. */
function scripted(reply: Reply) {
	const seen: Array<{ url: string; method?: string; headers: Headers; body: unknown }> = [];
	const fetchImpl = ((input: string | URL | Request, init: RequestInit = {}) => {
		seen.push({
			url: String(input instanceof Request ? input.url : input),
			method: init.method,
			headers: new Headers(init.headers),
			body: JSON.parse(String(init.body)),
		});
		if (reply instanceof Error) return Promise.reject(reply);
		if (reply === 'hang')
			return new Promise((_, reject) =>
				init.signal?.addEventListener('abort', () =>
					reject(Object.assign(new Error('This operation was aborted'), { name: 'AbortError' })),
				),
			);
		return Promise.resolve(
			new Response(reply.body, {
				status: reply.status,
				headers: { 'content-type': 'application/json', ...reply.headers },
			}),
		);
	}) as typeof fetch;
	return { fetchImpl, seen };
}

type Settled = { data?: unknown; requestId?: unknown; error?: Record<string, unknown> };

function settled(p: Promise<unknown>): Promise<Settled> {
	return p.then(
		(data) => ({ data, requestId: (data as { _request_id?: unknown } | null)?._request_id }),
		(e: Error & { status?: number; error?: unknown }) => ({
			error: {
				class: e.constructor.name,
				status: e.status,
				error: e.error,
				message: e.message,
				syntax: e instanceof SyntaxError,
			},
		}),
	);
}

async function viaSdk(reply: Reply, opts: { timeoutMs: number; signal?: AbortSignal }) {
	const s = scripted(reply);
	const client = openAiClient(creds, s.fetchImpl);
	const out = await settled(
		client.chat.completions
			.create(body as never, { timeout: opts.timeoutMs, signal: opts.signal })
			.withResponse()
			.then((r) => r.data),
	);
	return { out, seen: s.seen };
}

async function viaPoster(reply: Reply, opts: { timeoutMs: number; signal?: AbortSignal }) {
	const s = scripted(reply);
	const post = openAiChatPoster(creds, s.fetchImpl);
	const out = await settled(post(body, opts).then((r) => r.data));
	return { out, seen: s.seen };
}

const cases: Array<[string, Reply]> = [
	[
		'an answer with its request ID',
		{ status: 200, body: answer, headers: { 'x-request-id': 'req_1' } },
	],
	['an answer without a request ID', { status: 200, body: answer }],
	['an empty JSON body', { status: 200, body: '' }],
	['a body cut off', { status: 200, body: '{"id":"c","choi' }],
	['a text body', { status: 200, body: 'hello', headers: { 'content-type': 'text/plain' } }],
	['a 204', { status: 204, body: null as unknown as string }],
	[
		'a 429 with its code',
		{
			status: 429,
			body: JSON.stringify({
				error: { message: 'slow down', type: 'requests', code: 'rate_limit_exceeded' },
			}),
			headers: { 'retry-after': '2' },
		},
	],
	[
		'a 429 for quota',
		{ status: 429, body: JSON.stringify({ error: { message: 'no', code: 'insufficient_quota' } }) },
	],
	['a 400 without an error field', { status: 400, body: JSON.stringify({ message: 'bad' }) }],
	['a 401', { status: 401, body: JSON.stringify({ error: { message: 'key' } }) }],
	[
		'a 404',
		{
			status: 404,
			body: JSON.stringify({ error: { message: 'no model', code: 'model_not_found' } }),
		},
	],
	[
		'a 500 HTML page',
		{ status: 500, body: '<html>down</html>', headers: { 'content-type': 'text/html' } },
	],
	['a 503 with no body', { status: 503, body: '' }],
	[
		'a connection reset',
		Object.assign(new TypeError('fetch failed'), {
			cause: Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }),
		}),
	],
	['a timeout on the connection', new Error('connect ETIMEDOUT 10.0.0.1:443')],
];

describe('OpenAI chat completion without the SDK pipeline', () => {
	it.each(cases)('%s: the same result or error as the SDK', async (_name, reply) => {
		const sdk = await viaSdk(reply, { timeoutMs: 1000 });
		const ours = await viaPoster(reply, { timeoutMs: 1000 });
		expect(ours.out).toEqual(sdk.out);
	});

	it('sends the request the SDK sends: URL, method, auth, content type, body', async () => {
		const sdk = await viaSdk({ status: 200, body: answer }, { timeoutMs: 1000 });
		const ours = await viaPoster({ status: 200, body: answer }, { timeoutMs: 1000 });
		expect(ours.seen).toHaveLength(1);
		const [o, s] = [ours.seen[0], sdk.seen[0]];
		expect(o.url).toBe('http://x.test/v1/chat/completions');
		expect(o.url).toBe(s.url);
		expect(o.method).toBe('POST');
		expect(o.method).toBe(s.method);
		expect(o.body).toEqual(s.body);
		for (const h of ['authorization', 'content-type', 'accept'])
			expect([h, o.headers.get(h)]).toEqual([h, s.headers.get(h)]);
	});

	it('a request with no answer within the timeout: the SDK timeout error', async () => {
		const sdk = await viaSdk('hang', { timeoutMs: 20 });
		const ours = await viaPoster('hang', { timeoutMs: 20 });
		expect(ours.out.error?.class).toBe('APIConnectionTimeoutError');
		expect(ours.out).toEqual(sdk.out);
	});

	it('a canceled request: the SDK abort error, before or while it is sent', async () => {
		const before = new AbortController();
		before.abort();
		expect(
			(await viaPoster({ status: 200, body: answer }, { timeoutMs: 1000, signal: before.signal }))
				.out,
		).toEqual(
			(await viaSdk({ status: 200, body: answer }, { timeoutMs: 1000, signal: before.signal })).out,
		);
		const during = () => {
			const c = new AbortController();
			setTimeout(() => c.abort(), 10);
			return c.signal;
		};
		const ours = await viaPoster('hang', { timeoutMs: 5000, signal: during() });
		const sdk = await viaSdk('hang', { timeoutMs: 5000, signal: during() });
		expect(ours.out.error?.class).toBe('APIUserAbortError');
		expect(ours.out).toEqual(sdk.out);
	});

	it('the credential organization goes with the request, as the SDK sends it', async () => {
		const s = scripted({ status: 200, body: answer });
		await openAiChatPoster({ ...creds, organization: 'org-1' }, s.fetchImpl)(body, {
			timeoutMs: 1000,
		});
		const sdk = scripted({ status: 200, body: answer });
		await openAiClient({ ...creds, organization: 'org-1' }, sdk.fetchImpl).chat.completions.create(
			body as never,
		);
		expect(s.seen[0].headers.get('openai-organization')).toBe('org-1');
		expect(s.seen[0].headers.get('openai-organization')).toBe(
			sdk.seen[0].headers.get('openai-organization'),
		);
	});
});
