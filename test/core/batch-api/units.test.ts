import { describe, expect, it } from 'vitest';

import {
	carriesNonce,
	createBatchApi,
	customIdFor,
	newSubmissionNonce,
	jsonLines,
	PROVIDER_CAPS,
	readAnthropicResultLine,
	readOpenAiResultLine,
	splitIntoBatches,
} from '../../../core/batch-api';
import { openAiChatBody, readOpenAiChat } from '../../../core/call/providers/bodies';
import type { ChatResponse } from '../../../core/call/providers/types';

describe('customIdFor', () => {
	const nonce = newSubmissionNonce();

	it('a nonce is 12 lowercase letters or digits, a fresh one each time', () => {
		const many = Array.from({ length: 200 }, () => newSubmissionNonce());
		for (const n of many) expect(n).toMatch(/^[0-9a-z]{12}$/);
		expect(new Set(many).size).toBe(200);
	});

	it('the nonce, then the record ID when it fits, else its hash; deterministic, at most 64 characters', () => {
		expect(customIdFor(nonce, 'T-00017_a')).toBe(`${nonce}-T-00017_a`);
		const long = 'x'.repeat(52);
		expect(customIdFor(nonce, 'x'.repeat(51))).toBe(`${nonce}-${'x'.repeat(51)}`);
		expect(customIdFor(nonce, long)).toMatch(new RegExp(`^${nonce}-h_[0-9a-f]{40}$`));
		expect(customIdFor(nonce, 'ticket #17 / ü')).toMatch(/-h_[0-9a-f]{40}$/);
		expect(customIdFor(nonce, 'ticket #17 / ü')).toBe(customIdFor(nonce, 'ticket #17 / ü'));
		expect(customIdFor(nonce, 'a b')).not.toBe(customIdFor(nonce, 'a  b'));
		for (const id of [long, 'a b', 'x'.repeat(64), 'y'.repeat(10_000)])
			expect(customIdFor(nonce, id)).toMatch(/^[a-zA-Z0-9_-]{1,64}$/);
		expect(() => customIdFor('not-a-nonce', 'T-1')).toThrow(TypeError);
	});

	it('hashes a record ID that looks like a hashed one, so two records never share a custom_id', () => {
		const hashed = customIdFor(nonce, 'a b').slice(nonce.length + 1);
		expect(customIdFor(nonce, hashed)).not.toBe(`${nonce}-${hashed}`);
	});

	it("a custom_id carries its own submission's nonce, never another's", () => {
		const other = newSubmissionNonce();
		const id = customIdFor(nonce, 'row-1');
		expect(carriesNonce(id, nonce)).toBe(true);
		expect(carriesNonce(id, other)).toBe(false);
		expect(carriesNonce('row-1', nonce)).toBe(false);
		expect(carriesNonce(nonce, nonce)).toBe(false);
	});
});

describe('splitIntoBatches', () => {
	it('splits at the request cap, the byte cap and a smaller batch size, keeping order', () => {
		const caps = { maxRequests: 4, maxBytes: 1024 + 100 };
		expect(splitIntoBatches(Array(10).fill(10), caps)).toEqual([
			[0, 4],
			[4, 8],
			[8, 10],
		]);
		expect(splitIntoBatches(Array(5).fill(10), caps, 2)).toEqual([
			[0, 2],
			[2, 4],
			[4, 5],
		]);
		// 100 bytes left under the cap: 3 lines of 30 (+1 separator each) fit, a 4th does not.
		expect(splitIntoBatches([30, 30, 30, 30], caps)).toEqual([
			[0, 3],
			[3, 4],
		]);
		expect(splitIntoBatches([], caps)).toEqual([]);
		expect(() => splitIntoBatches([200], caps)).toThrow(RangeError);
	});

	it('uses the documented provider caps', () => {
		expect(PROVIDER_CAPS.openai).toEqual({ maxRequests: 50_000, maxBytes: 200_000_000 });
		expect(PROVIDER_CAPS.anthropic).toEqual({ maxRequests: 100_000, maxBytes: 256_000_000 });
		expect(splitIntoBatches(Array(120_000).fill(100), PROVIDER_CAPS.openai)).toHaveLength(3);
		expect(splitIntoBatches(Array(120_000).fill(100), PROVIDER_CAPS.anthropic)).toHaveLength(2);
	});
});

describe('jsonLines', () => {
	async function* chunks(parts: string[]) {
		for (const p of parts) yield new TextEncoder().encode(p);
	}
	it('yields whole lines across chunk boundaries (multi-byte characters split too), skipping blanks', async () => {
		const text = '{"a":"é"}\n\n{"b":2}\r\n{"c":3}';
		const bytes = new TextEncoder().encode(text);
		const split = [bytes.slice(0, 8), bytes.slice(8, 13), bytes.slice(13)];
		async function* raw() {
			for (const b of split) yield b;
		}
		const out: string[] = [];
		for await (const l of jsonLines(raw())) out.push(l);
		expect(out).toEqual(['{"a":"é"}', '{"b":2}', '{"c":3}']);
		const again: string[] = [];
		for await (const l of jsonLines(chunks(['x\n', 'y\n']))) again.push(l);
		expect(again).toEqual(['x', 'y']);
	});

	it('joins a line spread over many chunks, byte by byte, with its multi-byte characters whole', async () => {
		const line = JSON.stringify({ text: 'ça coûte 5 € — ✓'.repeat(50) });
		const bytes = new TextEncoder().encode(`${line}\n${line}`);
		async function* bytewise() {
			for (let i = 0; i < bytes.length; i++) yield bytes.slice(i, i + 1);
		}
		const out: string[] = [];
		for await (const l of jsonLines(bytewise())) out.push(l);
		expect(out).toEqual([line, line]);
	});
});

const read = (body: Record<string, unknown>): ChatResponse =>
	readOpenAiChat(body as never, { model: 'gpt-4o-mini', prompt: '', maxTokens: 0 });

describe('result lines into the taxonomy', () => {
	it('OpenAI: 200 -> the answer; 4xx/5xx -> classified; batch_expired / batch_cancelled -> retryable expired / canceled', () => {
		const ok = readOpenAiResultLine(
			JSON.stringify({
				custom_id: 'r1',
				response: {
					status_code: 200,
					request_id: 'req_1',
					body: {
						model: 'gpt-4o-mini',
						choices: [{ message: { content: 'hi' }, finish_reason: 'stop' }],
						usage: { prompt_tokens: 3, completion_tokens: 1 },
					},
				},
				error: null,
			}),
			read,
		);
		expect(ok).toEqual({
			customId: 'r1',
			ok: true,
			response: {
				text: 'hi',
				finishReason: 'stop',
				refusal: undefined,
				usage: { inputTokens: 3, outputTokens: 1 },
				model: 'gpt-4o-mini',
				requestId: 'req_1',
			},
		});
		const bad = readOpenAiResultLine(
			JSON.stringify({
				custom_id: 'r2',
				response: {
					status_code: 400,
					body: { error: { message: 'bad param', type: 'invalid_request_error' } },
				},
				error: null,
			}),
			read,
		);
		expect(bad).toMatchObject({
			customId: 'r2',
			ok: false,
			error: { code: 'invalid_request', retryable: false, status: 400 },
		});
		const server = readOpenAiResultLine(
			JSON.stringify({
				custom_id: 'r3',
				response: { status_code: 500, body: { error: { message: 'oops' } } },
				error: null,
			}),
			read,
		);
		expect(server).toMatchObject({ ok: false, error: { code: 'server_error', retryable: true } });
		for (const [code, ours] of [
			['batch_expired', 'expired'],
			['batch_cancelled', 'canceled'],
		]) {
			const line = readOpenAiResultLine(
				JSON.stringify({ custom_id: 'r4', response: null, error: { code, message: 'm' } }),
				read,
			);
			expect(line).toMatchObject({
				customId: 'r4',
				ok: false,
				error: { code: ours, retryable: true, provider: 'openai' },
			});
		}
		// A line that cannot be read is classified as a realtime body that is not JSON: the
		// provider's fault, retryable; with no custom_id it belongs to no record.
		expect(readOpenAiResultLine('not json', read)).toMatchObject({
			customId: '',
			ok: false,
			error: { code: 'server_error', retryable: true },
		});
	});

	it('Anthropic: succeeded / errored (invalid vs server) / canceled / expired', () => {
		const msg = (m: Record<string, unknown>) => ({
			text: String((m.content as Array<{ text: string }>)[0].text),
			finishReason: 'stop',
			usage: { inputTokens: 1, outputTokens: 1 },
			model: 'claude',
		});
		expect(
			readAnthropicResultLine(
				{
					custom_id: 'a',
					result: { type: 'succeeded', message: { content: [{ type: 'text', text: 'yo' }] } },
				},
				msg,
			),
		).toMatchObject({ customId: 'a', ok: true, response: { text: 'yo' } });
		expect(
			readAnthropicResultLine(
				{
					custom_id: 'b',
					result: {
						type: 'errored',
						error: {
							type: 'error',
							error: { type: 'invalid_request_error', message: 'max_tokens: too big' },
						},
					},
				},
				msg,
			),
		).toMatchObject({
			ok: false,
			error: { code: 'invalid_request', retryable: false, status: 400 },
		});
		expect(
			readAnthropicResultLine(
				{
					custom_id: 'c',
					result: {
						type: 'errored',
						error: { type: 'error', error: { type: 'overloaded_error', message: 'busy' } },
					},
				},
				msg,
			),
		).toMatchObject({ ok: false, error: { code: 'server_error', retryable: true } });
		expect(
			readAnthropicResultLine({ custom_id: 'd', result: { type: 'canceled' } }, msg),
		).toMatchObject({
			ok: false,
			error: { code: 'canceled', retryable: true },
		});
		expect(
			readAnthropicResultLine({ custom_id: 'e', result: { type: 'expired' } }, msg),
		).toMatchObject({
			ok: false,
			error: { code: 'expired', retryable: true },
		});
	});
});

describe('request lines reuse the engine request', () => {
	it('an OpenAI batch body is exactly the chat-completions body LLM Batch Call sends', () => {
		const req = {
			model: 'gpt-4o-mini',
			system: 'S',
			prompt: 'P',
			maxTokens: 50,
			temperature: 0,
			schema: { type: 'object' },
		};
		expect(openAiChatBody(req)).toEqual({
			model: 'gpt-4o-mini',
			messages: [
				{ role: 'system', content: 'S' },
				{ role: 'user', content: 'P' },
			],
			max_tokens: 50,
			temperature: 0,
			response_format: {
				type: 'json_schema',
				json_schema: { name: 'output', schema: { type: 'object' }, strict: false },
			},
		});
	});
});

describe('batch-API clients', () => {
	it('make one attempt per call (maxRetries 0: the retry policy is ours, not the SDK’s)', async () => {
		for (const provider of ['openai', 'anthropic'] as const) {
			let calls = 0;
			const fetchImpl = (async () => {
				calls++;
				return new Response(JSON.stringify({ error: { message: 'down', type: 'server_error' } }), {
					status: 503,
					headers: { 'content-type': 'application/json' },
				});
			}) as unknown as typeof fetch;
			const api = createBatchApi(
				provider,
				{ apiKey: 'k', baseUrl: 'http://127.0.0.1:9' },
				fetchImpl,
			);
			await expect(api.retrieve('b1')).rejects.toMatchObject({ status: 503 });
			expect(calls).toBe(1);
		}
	});
});
