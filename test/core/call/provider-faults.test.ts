/**
 * Answers a misbehaving provider sends with status 200 or as error pages,
 * through the real SDKs (a scripted fetch) and the runner: refusals, empty answers, empty
 * bodies and huge HTML error pages each end as the right code, retried or not, with a short
 * message.
 */
import { describe, expect, it } from 'vitest';

import { privateFlow } from '../../../core/call/limiter/in-process';
import { createProvider } from '../../../core/call/providers';
import { BatchRunner, type Outcome, type RunItem } from '../../../core/call/runner';
import { FakeClock } from '../../helpers/fake-clock';

type Reply = { status?: number; body: string; type?: string };

function scripted(reply: () => Reply) {
	let calls = 0;
	const fetchImpl = (async () => {
		calls++;
		const r = reply();
		return new Response(r.body, {
			status: r.status ?? 200,
			headers: { 'content-type': r.type ?? 'application/json' },
		});
	}) as unknown as typeof fetch;
	return { fetchImpl, calls: () => calls };
}

const openaiAnswer = (message: Record<string, unknown> | undefined, finish = 'stop') =>
	JSON.stringify({
		id: 'c',
		object: 'chat.completion',
		created: 0,
		model: 'gpt-4o-mini',
		choices: message === undefined ? [] : [{ index: 0, message, finish_reason: finish }],
		usage: { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 },
	});

const anthropicAnswer = (content: unknown[]) =>
	JSON.stringify({
		id: 'm',
		type: 'message',
		role: 'assistant',
		model: 'claude-haiku-4-5',
		content,
		stop_reason: 'end_turn',
		usage: { input_tokens: 10, output_tokens: 5 },
	});

async function runOne(
	provider: 'openai' | 'anthropic',
	reply: () => Reply,
	opts: { json?: boolean } = {},
): Promise<{ outcome: Outcome; calls: number }> {
	const s = scripted(reply);
	const clock = new FakeClock();
	const runner = new BatchRunner({
		provider: createProvider(
			provider,
			{ apiKey: 'k-123456', baseUrl: 'http://x.test/v1' },
			s.fetchImpl,
		),
		flow: privateFlow({ rpm: 60_000, tpm: Infinity }, clock),
		clock,
		concurrency: 1,
		timeoutMs: 1000,
		retry: { maxAttempts: 3 },
		structured: opts.json ? {} : undefined,
	});
	const item: RunItem = {
		index: 0,
		recordId: 'r0',
		request: {
			model: 'm',
			prompt: 'p',
			maxTokens: 50,
			schema: opts.json ? { type: 'object' } : undefined,
		},
		inputTokens: 5,
		promptHash: 'h',
	};
	const p = runner.run([item]);
	let settled = false;
	void p.finally(() => (settled = true));
	while (!settled) await clock.advance(1000);
	return { outcome: (await p)[0], calls: s.calls() };
}

const failure = (o: Outcome) => {
	if (o.ok) throw new Error(`expected a failure, got success ${JSON.stringify(o.result.output)}`);
	return o.error;
};

describe('misbehaving provider answers', () => {
	it('an OpenAI refusal is content_filter, not retried, with the refusal text (Text and JSON)', async () => {
		for (const json of [false, true]) {
			const { outcome, calls } = await runOne(
				'openai',
				() => ({
					body: openaiAnswer({
						role: 'assistant',
						content: null,
						refusal: "I can't help with that.",
					}),
				}),
				{ json },
			);
			expect({ json, calls }).toEqual({ json, calls: 1 });
			expect(failure(outcome)).toMatchObject({
				code: 'content_filter',
				retryable: false,
				attempts: 1,
				message: expect.stringContaining("I can't help with that."),
			});
		}
	});

	it('an empty answer (choices [] / content null / no content blocks) is malformed_output, retried, never Success', async () => {
		const cases: Array<['openai' | 'anthropic', string]> = [
			['openai', openaiAnswer(undefined)],
			['openai', openaiAnswer({ role: 'assistant', content: null })],
			['openai', openaiAnswer({ role: 'assistant', content: '' })],
			['anthropic', anthropicAnswer([])],
		];
		for (const [provider, body] of cases) {
			const { outcome, calls } = await runOne(provider, () => ({ body }));
			expect({ provider, body, calls }).toEqual({ provider, body, calls: 3 });
			expect(failure(outcome)).toMatchObject({
				code: 'malformed_output',
				retryable: true,
				message: expect.stringContaining('empty'),
			});
		}
	});

	it('a 200 with an empty body is server_error, retried, without a JavaScript message', async () => {
		for (const provider of ['openai', 'anthropic'] as const) {
			const { outcome, calls } = await runOne(provider, () => ({ body: '' }));
			expect({ provider, calls }).toEqual({ provider, calls: 3 });
			const error = failure(outcome);
			expect(error).toMatchObject({ code: 'server_error', retryable: true, attempts: 3 });
			expect(error.message).not.toMatch(/undefined|Cannot read|JSON\.parse|Unexpected end/);
		}
	});

	it('a 13 KB HTML error page is cut to status, type and first line; the body is never kept', async () => {
		const page = `<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head><body>${'<p>upstream connect error or disconnect/reset before headers</p>'.repeat(220)}</body></html>`;
		expect(page.length).toBeGreaterThan(13_000);
		for (const provider of ['openai', 'anthropic'] as const) {
			const { outcome } = await runOne(provider, () => ({
				status: 502,
				body: page,
				type: 'text/html',
			}));
			const error = failure(outcome);
			expect(error.code).toBe('server_error');
			expect(error.status).toBe(502);
			expect(error.message.length).toBeLessThanOrEqual(400);
			expect(error.message).toContain('502');
			expect(JSON.stringify(error)).not.toContain(
				'upstream connect error or disconnect/reset before headers</p><p>',
			);
		}
		// A JSON error keeps the provider's type and its first line, at most 300 characters.
		const long = `Something broke upstream. ${'x'.repeat(2000)}\nsecond line`;
		const { outcome } = await runOne('openai', () => ({
			status: 500,
			body: JSON.stringify({ error: { message: long, type: 'server_error' } }),
		}));
		const error = failure(outcome);
		expect(error.message).toMatch(
			/^Provider error 500 \(server_error\): Something broke upstream\. x+…$/,
		);
		expect(error.message.length).toBeLessThanOrEqual(400);
	});
});
