/**
 * Google Gemini's realtime provider against the sandbox's Gemini API: the same deterministic
 * answers as the other two, structured output from the node's JSON Schema, usage from
 * `usageMetadata` priced by the one cost meter, and Gemini's errors in the one taxonomy (429
 * waits from RetryInfo, a wrong key, a retired model, a safety block).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { costUsd } from '../../../core/cost';
import { LlmBatchError } from '../../../core/call/errors';
import { createProvider } from '../../../core/call/providers';
import { geminiRequestBody, readGeminiResponse } from '../../../core/call/providers/gemini-bodies';
import { geminiError } from '../../../core/call/providers/gemini-errors';
import { expectedReply, startSandbox, type Sandbox } from '../../../sandbox/server';

const KEY = 'gk-secret-0123456789';
let sandbox: Sandbox;

beforeAll(async () => {
	sandbox = await startSandbox({ fault429RetryAfterMs: 7000 });
});
afterAll(async () => {
	await sandbox.close();
});

const gemini = (o: { key?: string } = {}) =>
	createProvider('gemini', { apiKey: o.key ?? KEY, baseUrl: sandbox.url });
const call = { timeoutMs: 5000 };

async function failure(p: Promise<unknown>): Promise<LlmBatchError> {
	const e = await p.then(
		() => undefined,
		(x: unknown) => x,
	);
	expect(e).toBeInstanceOf(LlmBatchError);
	return e as LlmBatchError;
}

describe('Gemini realtime through the sandbox', () => {
	it('answers a prompt with the sandbox reply, its usage and its price', async () => {
		sandbox.reset();
		const prompt = 'Classify invoice 42 from ACME';
		const system = 'You file invoices.';
		const res = await gemini().complete(
			{ model: 'gemini-2.5-flash', system, prompt, maxTokens: 100 },
			call,
		);
		const text = expectedReply({ prompt }).text;
		const inputTokens = Math.ceil((prompt.length + system.length) / 4);
		const outputTokens = Math.ceil(text.length / 4);
		expect(res).toEqual({
			text,
			finishReason: 'stop',
			usage: { inputTokens, outputTokens },
			model: 'gemini-2.5-flash',
			requestId: expect.stringMatching(/^resp_/),
			rateLimit: undefined,
		});
		const st = sandbox.stats();
		expect([st.inputTokens, st.outputTokens]).toEqual([inputTokens, outputTokens]);
		// gemini-2.5-flash: $0.30 in / $2.50 out per 1M; the Batch API half of it.
		const realtime = (inputTokens * 0.3 + outputTokens * 2.5) / 1e6;
		expect(costUsd('gemini-2.5-flash', res.usage)).toBeCloseTo(realtime, 12);
		expect(costUsd('gemini-2.5-flash', res.usage, { batch: true })).toBeCloseTo(realtime / 2, 12);
	});

	it('returns structured output as JSON that fits the schema (responseJsonSchema)', async () => {
		const schema = {
			type: 'object',
			properties: { supplier: { type: 'string' }, total: { type: 'number' } },
			required: ['supplier', 'total'],
		};
		const prompt = 'Invoice 7: ACME, total 12.50';
		const res = await gemini().complete(
			{ model: 'gemini-2.5-flash', prompt, schema, maxTokens: 200 },
			call,
		);
		expect(JSON.parse(res.text)).toEqual(expectedReply({ prompt, schema }).output);
		expect(res.finishReason).toBe('stop');
	});

	it('a 429 waits as long as RetryInfo says (Gemini sends no Retry-After)', async () => {
		const e = await failure(
			gemini().complete(
				{ model: 'gemini-2.5-flash', prompt: 'x [[sandbox:status429]]', maxTokens: 10 },
				call,
			),
		);
		expect([e.code, e.status, e.retryAfterMs, e.provider]).toEqual([
			'rate_limited',
			429,
			7000,
			'gemini',
		]);
	});

	it("the account's request limit answers Gemini's 429, its wait in RetryInfo and no rate-limit headers", async () => {
		const limited = await startSandbox({ rpm: 6, burstSeconds: 10 });
		try {
			const p = createProvider('gemini', { apiKey: KEY, baseUrl: limited.url });
			const first = await p.complete(
				{ model: 'gemini-2.5-flash', prompt: 'a', maxTokens: 5 },
				call,
			);
			expect(first.rateLimit).toBeUndefined();
			const e = await failure(
				p.complete({ model: 'gemini-2.5-flash', prompt: 'b', maxTokens: 5 }, call),
			);
			// 6 per minute: the next request in 10 s, said as RetryInfo "10s".
			expect([e.code, e.status, e.retryAfterMs]).toEqual(['rate_limited', 429, 10_000]);
			expect(limited.stats().rateLimited).toBe(1);
		} finally {
			await limited.close();
		}
	});

	it('no answer within the request timeout is a timeout, retried', async () => {
		const e = await failure(
			gemini().complete(
				{ model: 'gemini-2.5-flash', prompt: 'h [[sandbox:hang]]', maxTokens: 10 },
				{ timeoutMs: 150 },
			),
		);
		expect([e.code, e.retryable]).toEqual(['timeout', true]);
	});

	it('a safety stop is content_filter, not an answer', async () => {
		const res = await gemini().complete(
			{ model: 'gemini-2.5-flash', prompt: 'y [[sandbox:contentPolicy]]', maxTokens: 10 },
			call,
		);
		expect(res.finishReason).toBe('content_filter');
		expect(res.refusal).toBe('The answer was withheld (SAFETY)');
		expect(res.text).toBe('');
	});

	it('maps 400, a wrong key, a retired model and 5xx into the taxonomy, without the key', async () => {
		const codes: string[] = [];
		for (const fault of ['status400', 'status500', 'status503']) {
			const e = await failure(
				gemini().complete(
					{ model: 'gemini-2.5-flash', prompt: `z [[sandbox:${fault}]]`, maxTokens: 10 },
					call,
				),
			);
			codes.push(`${e.status} ${e.code} ${e.retryable}`);
		}
		sandbox.configure({ apiKeys: ['only-this-key'], strictModels: true });
		try {
			const auth = await failure(
				gemini().complete({ model: 'gemini-2.5-flash', prompt: 'a', maxTokens: 10 }, call),
			);
			codes.push(`${auth.status} ${auth.code} ${auth.retryable}`);
			expect(auth.message).not.toContain(KEY);
			const gone = await failure(
				gemini({ key: 'only-this-key' }).complete(
					{ model: 'gemini-0-retired', prompt: 'a', maxTokens: 10 },
					call,
				),
			);
			codes.push(`${gone.status} ${gone.code} ${gone.retryable}`);
		} finally {
			sandbox.configure({ apiKeys: undefined, strictModels: false });
		}
		expect(codes).toEqual([
			'400 invalid_request false',
			'500 server_error true',
			'503 server_error true',
			'400 auth false',
			'404 model_not_found false',
		]);
	});
});

describe('Gemini request and answer shapes', () => {
	it('builds the system instruction, the user turn, a re-ask turn and the JSON schema', () => {
		const schema = { type: 'object', properties: { a: { type: 'string' } } };
		expect(
			geminiRequestBody({
				model: 'gemini-2.5-flash',
				system: 'S',
				prompt: 'P',
				schema,
				maxTokens: 50,
				temperature: 0,
				followUp: { answer: '{"a":1}', errors: 'Invalid answer: a must be a string' },
			}),
		).toEqual({
			contents: [
				{ role: 'user', parts: [{ text: 'P' }] },
				{ role: 'model', parts: [{ text: '{"a":1}' }] },
				{ role: 'user', parts: [{ text: 'Invalid answer: a must be a string' }] },
			],
			systemInstruction: { parts: [{ text: 'S' }] },
			generationConfig: {
				maxOutputTokens: 50,
				temperature: 0,
				responseMimeType: 'application/json',
				responseJsonSchema: schema,
			},
		});
	});

	it('reads a blocked prompt, thinking tokens, thought parts and cached tokens', () => {
		expect(
			readGeminiResponse(
				{
					promptFeedback: { blockReason: 'PROHIBITED_CONTENT' },
					usageMetadata: { promptTokenCount: 9 },
				},
				{ model: 'gemini-2.5-pro' },
			),
		).toEqual({
			text: '',
			finishReason: 'content_filter',
			refusal: 'The prompt was blocked (PROHIBITED_CONTENT)',
			usage: { inputTokens: 9, outputTokens: 0 },
			model: 'gemini-2.5-pro',
		});
		const r = readGeminiResponse(
			{
				candidates: [
					{
						content: { parts: [{ text: 'thinking…', thought: true }, { text: 'answer' }] },
						finishReason: 'MAX_TOKENS',
					},
				],
				usageMetadata: {
					promptTokenCount: 100,
					cachedContentTokenCount: 60,
					candidatesTokenCount: 5,
					thoughtsTokenCount: 20,
				},
			},
			{ model: 'gemini-2.5-pro' },
		);
		expect([r.text, r.finishReason, r.usage]).toEqual([
			'answer',
			'length',
			{ inputTokens: 100, outputTokens: 25, cachedInputTokens: 60 },
		]);
		// 40 input at $1.25, 60 cached at $0.125, 25 output (thinking included) at $10 per 1M.
		expect(costUsd('gemini-2.5-pro', r.usage)).toBeCloseTo(
			(40 * 1.25 + 60 * 0.125 + 25 * 10) / 1e6,
			12,
		);
	});

	it('a 429 whose message speaks of quota and billing is still a rate limit', () => {
		const e = geminiError(
			429,
			{
				error: {
					code: 429,
					status: 'RESOURCE_EXHAUSTED',
					message: 'You exceeded your current quota, please check your plan and billing details.',
					details: [{ '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: '13.5s' }],
				},
			},
			new Headers(),
			0,
		);
		expect([e.code, e.retryAfterMs, e.retryable]).toEqual(['rate_limited', 13_500, true]);
	});
});
