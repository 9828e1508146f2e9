import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import {
	expectedReply,
	promptDigest,
	startSandbox,
	type Sandbox,
	type SandboxStats,
} from '../../sandbox/server';

const SCHEMA = {
	type: 'object',
	additionalProperties: false,
	required: ['label', 'confidence', 'echo', 'score', 'tags', 'flag', 'nested'],
	properties: {
		label: { type: 'string', enum: ['positive', 'negative', 'neutral'] },
		confidence: { type: 'number' },
		echo: { type: 'string' },
		score: { type: 'integer', minimum: 1, maximum: 5 },
		tags: { type: 'array', items: { type: 'string' } },
		flag: { type: 'boolean' },
		nested: {
			type: 'object',
			properties: { note: { type: 'string' } },
			required: ['note'],
			additionalProperties: false,
		},
	},
};

function openai(sb: Sandbox, extra: Partial<ConstructorParameters<typeof OpenAI>[0]> = {}): OpenAI {
	return new OpenAI({ apiKey: 'sk-test', baseURL: `${sb.url}/v1`, maxRetries: 0, ...extra });
}

function anthropic(
	sb: Sandbox,
	extra: Partial<ConstructorParameters<typeof Anthropic>[0]> = {},
): Anthropic {
	return new Anthropic({ apiKey: 'sk-ant-test', baseURL: sb.url, maxRetries: 0, ...extra });
}

const ask = (client: OpenAI, prompt: string, model = 'gpt-4o-mini') =>
	client.chat.completions.create({
		model,
		messages: [{ role: 'user', content: prompt }],
		max_tokens: 50,
	});

const askClaude = (client: Anthropic, prompt: string) =>
	client.messages.create({
		model: 'claude-haiku-4-5',
		max_tokens: 50,
		messages: [{ role: 'user', content: prompt }],
	});

/** Every request leaves a status, or a reset/hang that has none. */
function accountedFor(s: SandboxStats): number {
	return Object.values(s.byStatus).reduce((a, b) => a + b, 0) + s.faults.reset + s.faults.hang;
}

async function rejection(p: Promise<unknown>): Promise<unknown> {
	try {
		await p;
	} catch (e) {
		return e;
	}
	throw new Error('expected the call to fail');
}

describe('sandbox with the OpenAI SDK', () => {
	let sb: Sandbox;
	beforeAll(async () => {
		sb = await startSandbox();
	});
	afterEach(() =>
		sb.configure({
			rpm: Infinity,
			tpm: Infinity,
			faults: {},
			quotaExhausted: false,
			apiKeys: undefined,
		}),
	);
	afterAll(() => sb.close());

	it('answers a plain call with the deterministic reply, usage and ids', async () => {
		const prompt = 'Summarise: the quick brown fox jumps over the lazy dog';
		const { data, response } = await ask(openai(sb), prompt, 'gpt-4.1-mini').withResponse();
		expect(data.choices[0].message.content).toBe(expectedReply({ prompt }).text);
		expect(data.choices[0].message.content).toBe(
			`sandbox:${promptDigest(prompt)} ${prompt.slice(0, 60)}`,
		);
		expect(data.choices[0].finish_reason).toBe('stop');
		expect(data.model).toBe('gpt-4.1-mini');
		expect(data.id).toMatch(/^chatcmpl-/);
		expect(data.created).toBeGreaterThan(1_600_000_000);
		expect(data.usage).toMatchObject({
			prompt_tokens: Math.ceil(prompt.length / 4),
			completion_tokens: Math.ceil(expectedReply({ prompt }).text.length / 4),
		});
		expect(response.headers.get('x-request-id')).toMatch(/^req_/);
	});

	it('counts system and all messages as input tokens and answers the last user message', async () => {
		const messages = [
			{ role: 'system' as const, content: 'You are terse.' },
			{ role: 'user' as const, content: 'first question' },
			{ role: 'assistant' as const, content: 'first answer' },
			{
				role: 'user' as const,
				content: [
					{ type: 'text' as const, text: 'second' },
					{ type: 'text' as const, text: 'question' },
				],
			},
		];
		const r = await openai(sb).chat.completions.create({ model: 'gpt-4o', messages });
		expect(r.choices[0].message.content).toBe(expectedReply({ prompt: 'second\nquestion' }).text);
		const chars =
			'You are terse.'.length +
			'first question'.length +
			'first answer'.length +
			'second\nquestion'.length;
		expect(r.usage?.prompt_tokens).toBe(Math.ceil(chars / 4));
	});

	it('answers json_schema structured output with the expected value', async () => {
		const prompt = 'Classify: I love it';
		const r = await openai(sb).chat.completions.create({
			model: 'gpt-4o-mini',
			messages: [{ role: 'user', content: prompt }],
			response_format: {
				type: 'json_schema',
				json_schema: { name: 'c', strict: true, schema: SCHEMA },
			},
		});
		const expected = expectedReply({ prompt, schema: SCHEMA });
		expect(JSON.parse(r.choices[0].message.content!)).toEqual(expected.output);
		expect(r.choices[0].message.content).toBe(expected.text);
		const out = expected.output as Record<string, unknown>;
		expect(out.echo).toBe(promptDigest(prompt));
		expect(['positive', 'negative', 'neutral']).toContain(out.label);
		expect(out.confidence).toBeGreaterThanOrEqual(0);
		expect(out.confidence).toBeLessThanOrEqual(1);
	});

	it('answers json_object and forced function calls', async () => {
		const prompt = 'give json';
		const r = await openai(sb).chat.completions.create({
			model: 'gpt-4o-mini',
			messages: [{ role: 'user', content: prompt }],
			response_format: { type: 'json_object' },
		});
		expect(JSON.parse(r.choices[0].message.content!)).toEqual(
			expectedReply({ prompt, mode: 'json_object' }).output,
		);
		const t = await openai(sb).chat.completions.create({
			model: 'gpt-4o-mini',
			messages: [{ role: 'user', content: prompt }],
			tools: [{ type: 'function', function: { name: 'classify', parameters: SCHEMA } }],
			tool_choice: { type: 'function', function: { name: 'classify' } },
		});
		expect(t.choices[0].finish_reason).toBe('tool_calls');
		const call = t.choices[0].message.tool_calls![0];
		expect(call.type === 'function' && JSON.parse(call.function.arguments)).toEqual(
			expectedReply({ prompt, schema: SCHEMA }).output,
		);
	});

	it('answers 429 with retry headers and provider rate-limit headers when the request bucket is empty', async () => {
		sb.configure({ rpm: 60 });
		const client = openai(sb);
		const ok = await ask(client, 'rl first').withResponse();
		expect(ok.response.headers.get('x-ratelimit-limit-requests')).toBe('60');
		expect(ok.response.headers.get('x-ratelimit-remaining-requests')).toBe('0');
		const err = await rejection(ask(client, 'rl second'));
		expect(err).toBeInstanceOf(OpenAI.RateLimitError);
		const e = err as InstanceType<typeof OpenAI.RateLimitError>;
		expect(e.status).toBe(429);
		expect(e.code).toBe('rate_limit_exceeded');
		expect(e.type).toBe('requests');
		expect(e.headers.get('retry-after')).toBe('1');
		expect(Number(e.headers.get('retry-after-ms'))).toBeGreaterThan(0);
		expect(Number(e.headers.get('retry-after-ms'))).toBeLessThanOrEqual(1000);
		expect(e.headers.get('x-ratelimit-limit-requests')).toBe('60');
		expect(e.headers.get('x-ratelimit-remaining-requests')).toBe('0');
		expect(e.headers.get('x-ratelimit-reset-requests')).toMatch(/^\d+ms$|^1s$/);
	});

	it('rejects by tokens when input + max_tokens does not fit the token bucket', async () => {
		sb.configure({ tpm: 6000 }); // 100 tokens per second, capacity 100
		const client = openai(sb);
		const big = (p: string) =>
			client.chat.completions.create({
				model: 'gpt-4o-mini',
				messages: [{ role: 'user', content: p }],
				max_tokens: 60,
			});
		const ok = await big('tokens one').withResponse();
		expect(ok.response.headers.get('x-ratelimit-limit-tokens')).toBe('6000');
		expect(Number(ok.response.headers.get('x-ratelimit-remaining-tokens'))).toBe(
			100 - 60 - Math.ceil('tokens one'.length / 4),
		);
		const e = (await rejection(big('tokens two'))) as InstanceType<typeof OpenAI.RateLimitError>;
		expect(e.status).toBe(429);
		expect(e.type).toBe('tokens');
	});

	it('answers 429 insufficient_quota when the quota is exhausted', async () => {
		sb.configure({ quotaExhausted: true });
		const e = (await rejection(ask(openai(sb), 'quota'))) as InstanceType<
			typeof OpenAI.RateLimitError
		>;
		expect(e).toBeInstanceOf(OpenAI.RateLimitError);
		expect(e.code).toBe('insufficient_quota');
		expect(e.type).toBe('insufficient_quota');
	});

	it('accepts only the configured keys and never echoes a key', async () => {
		sb.configure({ apiKeys: ['sk-good'] });
		const e = (await rejection(
			ask(openai(sb, { apiKey: 'sk-bad-secret' }), 'auth'),
		)) as InstanceType<typeof OpenAI.AuthenticationError>;
		expect(e).toBeInstanceOf(OpenAI.AuthenticationError);
		expect(JSON.stringify(e.error)).not.toContain('sk-bad-secret');
		await expect(ask(openai(sb, { apiKey: 'sk-good' }), 'auth')).resolves.toBeTruthy();
		const models = await openai(sb, { apiKey: 'sk-good' }).models.list();
		expect(models.data.map((m) => m.id)).toContain('gpt-4o-mini');
		await expect(openai(sb, { apiKey: 'sk-bad' }).models.list()).rejects.toBeInstanceOf(
			OpenAI.AuthenticationError,
		);
	});

	it('maps each forced fault to what the SDK shows', async () => {
		const c = openai(sb);
		const seen = async (fault: string, client = c) =>
			rejection(ask(client, `x [[sandbox:${fault}]]`));
		expect(await seen('status500')).toMatchObject({
			status: 500,
			constructor: OpenAI.InternalServerError,
		});
		expect(await seen('status503')).toMatchObject({
			status: 503,
			constructor: OpenAI.InternalServerError,
		});
		expect(await seen('status529')).toMatchObject({
			status: 503,
			constructor: OpenAI.InternalServerError,
		});
		expect(await seen('status400')).toMatchObject({
			status: 400,
			constructor: OpenAI.BadRequestError,
		});
		expect(await seen('status401')).toMatchObject({
			status: 401,
			constructor: OpenAI.AuthenticationError,
		});
		expect(await seen('status429')).toMatchObject({
			status: 429,
			constructor: OpenAI.RateLimitError,
		});
		expect(await seen('reset')).toBeInstanceOf(OpenAI.APIConnectionError);
		sb.configure({ hangMs: 5_000 });
		expect(await seen('hang', openai(sb, { timeout: 300 }))).toBeInstanceOf(
			OpenAI.APIConnectionTimeoutError,
		);
		expect(await seen('malformed')).toBeInstanceOf(SyntaxError);
		const prompt = 'cut [[sandbox:truncated]]';
		const t = await c.chat.completions.create({
			model: 'm',
			messages: [{ role: 'user', content: prompt }],
			response_format: { type: 'json_schema', json_schema: { name: 's', schema: SCHEMA } },
		});
		const full = expectedReply({ prompt, schema: SCHEMA }).text;
		expect(t.choices[0]).toMatchObject({
			finish_reason: 'length',
			message: { content: full.slice(0, Math.ceil(full.length / 2)) },
		});
		const f = await ask(c, 'no [[sandbox:contentPolicy]]');
		expect(f.choices[0].finish_reason).toBe('content_filter');
		expect(f.choices[0].message.content).toBeNull();
		expect(f.choices[0].message.refusal).toBeTruthy();
		await expect(ask(c, 'typo [[sandbox:status999]]')).rejects.toBeInstanceOf(
			OpenAI.BadRequestError,
		);
	});

	it('fails the first N requests of a fail-first prompt, then succeeds', async () => {
		const c = openai(sb);
		const prompt = 'flaky [[sandbox:fail-first:2:status503]]';
		await expect(ask(c, prompt)).rejects.toMatchObject({ status: 503 });
		await expect(ask(c, prompt)).rejects.toMatchObject({ status: 503 });
		const r = await ask(c, prompt);
		expect(r.choices[0].message.content).toBe(expectedReply({ prompt }).text);
		await expect(ask(c, prompt)).resolves.toBeTruthy();
	});

	it('reuses keep-alive sockets across sequential calls', async () => {
		const before = sb.stats().connections;
		const c = openai(sb);
		for (let i = 0; i < 10; i++) await ask(c, `keepalive ${i}`);
		expect(sb.stats().connections - before).toBeLessThanOrEqual(1);
	});
});

describe('sandbox with the Anthropic SDK', () => {
	let sb: Sandbox;
	beforeAll(async () => {
		sb = await startSandbox();
	});
	afterEach(() =>
		sb.configure({
			rpm: Infinity,
			tpm: Infinity,
			faults: {},
			quotaExhausted: false,
			apiKeys: undefined,
		}),
	);
	afterAll(() => sb.close());

	it('answers a plain call with the deterministic reply and usage', async () => {
		const prompt = 'Translate: bonjour';
		const { data, response } = await anthropic(sb)
			.messages.create({
				model: 'claude-haiku-4-5',
				max_tokens: 100,
				system: 'Be brief.',
				messages: [{ role: 'user', content: prompt }],
			})
			.withResponse();
		expect(data.content).toEqual([{ type: 'text', text: expectedReply({ prompt }).text }]);
		expect(data.stop_reason).toBe('end_turn');
		expect(data.model).toBe('claude-haiku-4-5');
		expect(data.usage.input_tokens).toBe(Math.ceil((prompt.length + 'Be brief.'.length) / 4));
		expect(data.usage.output_tokens).toBe(Math.ceil(expectedReply({ prompt }).text.length / 4));
		expect(response.headers.get('request-id')).toMatch(/^req_/);
	});

	it('answers a forced tool with a tool_use block holding the expected input', async () => {
		const prompt = 'Classify: meh';
		const r = await anthropic(sb).messages.create({
			model: 'claude-haiku-4-5',
			max_tokens: 200,
			messages: [{ role: 'user', content: prompt }],
			tools: [
				{
					name: 'classify',
					description: 'c',
					input_schema: SCHEMA as Anthropic.Tool['input_schema'],
				},
			],
			tool_choice: { type: 'tool', name: 'classify' },
		});
		expect(r.stop_reason).toBe('tool_use');
		expect(r.content).toHaveLength(1);
		expect(r.content[0]).toMatchObject({
			type: 'tool_use',
			name: 'classify',
			input: expectedReply({ prompt, schema: SCHEMA }).output,
		});
	});

	it('answers 429 rate_limit_error with retry-after and anthropic-ratelimit headers', async () => {
		sb.configure({ rpm: 30 }); // 0.5 per second, capacity 1
		const c = anthropic(sb);
		await askClaude(c, 'a rl 1');
		const e = (await rejection(askClaude(c, 'a rl 2'))) as InstanceType<
			typeof Anthropic.RateLimitError
		>;
		expect(e).toBeInstanceOf(Anthropic.RateLimitError);
		expect(e.status).toBe(429);
		expect(e.error).toMatchObject({ type: 'error', error: { type: 'rate_limit_error' } });
		expect(e.headers.get('retry-after')).toMatch(/^[12]$/);
		expect(e.headers.get('anthropic-ratelimit-requests-limit')).toBe('30');
		expect(e.headers.get('anthropic-ratelimit-requests-remaining')).toBe('0');
		const reset = Date.parse(e.headers.get('anthropic-ratelimit-requests-reset')!);
		expect(reset - Date.now()).toBeGreaterThan(0);
		expect(reset - Date.now()).toBeLessThanOrEqual(2100);
	});

	it('maps each forced fault to what the SDK shows', async () => {
		const c = anthropic(sb);
		sb.configure({ hangMs: 5_000 });
		const seen = async (fault: string, client = c) =>
			rejection(askClaude(client, `x [[sandbox:${fault}]]`));
		expect(await seen('status500')).toMatchObject({
			status: 500,
			constructor: Anthropic.InternalServerError,
		});
		expect(await seen('status529')).toMatchObject({
			status: 529,
			error: { error: { type: 'overloaded_error' } },
		});
		expect(await seen('status401')).toMatchObject({
			status: 401,
			constructor: Anthropic.AuthenticationError,
			error: { error: { type: 'authentication_error' } },
		});
		expect(await seen('reset')).toBeInstanceOf(Anthropic.APIConnectionError);
		expect(await seen('hang', anthropic(sb, { timeout: 300 }))).toBeInstanceOf(
			Anthropic.APIConnectionTimeoutError,
		);
		expect(await seen('malformed')).toBeInstanceOf(SyntaxError);
		const t = await askClaude(c, 'cut [[sandbox:truncated]]');
		expect(t.stop_reason).toBe('max_tokens');
		const r = await askClaude(c, 'no [[sandbox:contentPolicy]]');
		expect(r.stop_reason).toBe('refusal');
	});

	it('answers the out-of-credit error as Anthropic does (400 invalid_request_error)', async () => {
		sb.configure({ quotaExhausted: true });
		const e = (await rejection(askClaude(anthropic(sb), 'q'))) as InstanceType<
			typeof Anthropic.BadRequestError
		>;
		expect(e).toBeInstanceOf(Anthropic.BadRequestError);
		expect(e.message).toContain('credit balance is too low');
	});

	it('lists models for an x-api-key credential test', async () => {
		const page = await anthropic(sb).models.list();
		expect(page.data.map((m) => m.id)).toContain('claude-haiku-4-5');
	});
});

describe('sandbox limits, randomness and counters', () => {
	it('keeps a burst within the request bucket and the per-minute limit', async () => {
		// One refill per 5 s and a capacity of 2, so a slow machine cannot sneak a third one in;
		// latency keeps the accepted ones in flight while the rest arrive.
		const sb = await startSandbox({ rpm: 12, burstSeconds: 10, latencyMs: { min: 30, max: 30 } });
		try {
			const c = openai(sb);
			const results = await Promise.allSettled(
				Array.from({ length: 20 }, (_, i) => ask(c, `burst ${i}`)),
			);
			expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(2);
			const s = sb.stats();
			expect(s).toMatchObject({
				requests: 20,
				accepted: 2,
				rateLimited: 18,
				byStatus: { 200: 2, 429: 18 },
				paidSuccesses: 2,
			});
			expect(s.maxRequestsPerWindow()).toBe(2);
			expect(s.maxRequestsPerWindow(60_000)).toBeLessThanOrEqual(12);
			expect(s.maxInFlight).toBeGreaterThan(1);
			expect(s.inFlight).toBe(0);
		} finally {
			await sb.close();
		}
	});

	async function faultSequence(seed: number): Promise<string[]> {
		const sb = await startSandbox({
			seed,
			faults: { status500: 0.2, truncated: 0.2, malformed: 0.1 },
		});
		try {
			const out: string[] = [];
			for (let i = 0; i < 40; i++) {
				// Each prompt twice: the retry of a prompt rolls again.
				const res = await fetch(`${sb.url}/v1/chat/completions`, {
					method: 'POST',
					headers: { authorization: 'Bearer k', 'content-type': 'application/json' },
					body: JSON.stringify({
						model: 'm',
						messages: [{ role: 'user', content: `item ${i >> 1}` }],
					}),
				});
				const text = await res.text();
				out.push(
					`${res.status}:${text.startsWith('{"id": "chatcmpl') ? 'malformed' : res.status === 200 ? JSON.parse(text).choices[0].finish_reason : ''}`,
				);
			}
			return out;
		} finally {
			await sb.close();
		}
	}

	it('rolls the same faults for the same seed and different ones for another seed', async () => {
		const a = await faultSequence(7);
		const b = await faultSequence(7);
		const c = await faultSequence(8);
		expect(a).toEqual(b);
		expect(a).not.toEqual(c);
		expect(new Set(a).size).toBeGreaterThan(2);
	});

	it('counters add up: every request has a status or a reset, and successes match the answers', async () => {
		const sb = await startSandbox({
			seed: 3,
			rpm: 6000,
			burstSeconds: 0.5,
			faults: { status500: 0.1, reset: 0.1, truncated: 0.05, contentPolicy: 0.05, malformed: 0.05 },
		});
		try {
			const c = openai(sb);
			const results = await Promise.allSettled(
				Array.from({ length: 300 }, (_, i) => ask(c, `count ${i % 120}`)),
			);
			const ok = results.filter((r) => r.status === 'fulfilled').map((r) => r.value);
			const s = sb.stats();
			expect(s.requests).toBe(300);
			expect(accountedFor(s)).toBe(300);
			expect(s.accepted + s.rateLimited).toBe(300);
			expect(s.byStatus['429']).toBe(s.rateLimited);
			const stops = ok.filter((r) => r.choices[0].finish_reason === 'stop');
			expect(s.paidSuccesses).toBe(stops.length);
			expect(Object.values(s.successesByPrompt).reduce((a, b) => a + b, 0)).toBe(s.paidSuccesses);
			expect(s.byStatus['200']).toBe(ok.length + s.faults.malformed);
			expect(s.faults.truncated + s.faults.contentPolicy).toBe(ok.length - stops.length);
			for (const r of stops) {
				const d = r.choices[0].message.content!.slice('sandbox:'.length, 'sandbox:'.length + 16);
				expect(s.successesByPrompt[d]).toBeGreaterThan(0);
			}
			expect(s.maxRequestsPerWindow(1000)).toBeLessThanOrEqual(50 + 100);
			expect(s.inFlight).toBe(0);
		} finally {
			await sb.close();
		}
	});

	it('serves stats, config and reset over HTTP for other processes', async () => {
		const sb = await startSandbox();
		try {
			await ask(openai(sb), 'http stats');
			const stats = await (await fetch(`${sb.url}/sandbox/stats`)).json();
			expect(stats).toMatchObject({
				requests: 1,
				paidSuccesses: 1,
				byStatus: { 200: 1 },
				maxRequestsPerWindow: 1,
				windowMs: 60_000,
			});
			const cfg = await fetch(`${sb.url}/sandbox/config`, {
				method: 'POST',
				body: JSON.stringify({ rpm: 60, faults: { status500: 1 } }),
			});
			expect(await cfg.json()).toMatchObject({ rpm: 60, tpm: null, faults: { status500: 1 } });
			await expect(ask(openai(sb), 'now fails')).rejects.toMatchObject({ status: 500 });
			await fetch(`${sb.url}/sandbox/config`, {
				method: 'POST',
				body: JSON.stringify({ rpm: null, faults: {} }),
			});
			await fetch(`${sb.url}/sandbox/reset`, { method: 'POST' });
			expect(sb.stats()).toMatchObject({ requests: 0, paidSuccesses: 0, byStatus: {} });
			expect(
				(await fetch(`${sb.url}/sandbox/config`, { method: 'POST', body: '{"faults":{"nope":1}}' }))
					.status,
			).toBe(400);
		} finally {
			await sb.close();
		}
	});

	it('closes with a hanging request and idle keep-alive sockets open', async () => {
		const sb = await startSandbox({ hangMs: 60_000 });
		const c = openai(sb, { timeout: 30_000 });
		await ask(c, 'idle socket');
		const hanging = ask(c, 'hold [[sandbox:hang]]').catch((e: unknown) => e);
		for (let i = 0; i < 200 && sb.stats().inFlight === 0; i++)
			await new Promise((r) => setTimeout(r, 10));
		expect(sb.stats().inFlight).toBe(1);
		await sb.close();
		expect(await hanging).toBeInstanceOf(OpenAI.APIConnectionError);
		// A close that waited for the hanging request (60 s) fails on the test's own timeout.
	}, 20_000);
});
