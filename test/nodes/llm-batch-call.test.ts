import { NodeOperationError } from 'n8n-workflow';
import { beforeEach, describe, expect, it } from 'vitest';

import { resetSharedFlow } from '../../core/call/limiter/in-process';
import { costUsd } from '../../core/cost';
import { executeLlmBatchCall } from '../../nodes/LlmBatchCall/execute';
import { FakeClock } from '../helpers/fake-clock';
import { mockExecute, type MockOptions } from '../helpers/mock-execute';

const CREDS = { llmBatchOpenAiApi: { apiKey: 'sk-test-SECRET', baseUrl: 'http://llm.test/v1' } };

/** A fetch that answers chat completions from a script, and records the bodies. */
function stubFetch(
	answer: (body: { messages: Array<{ content: string }> }) => {
		status?: number;
		json: unknown;
		headers?: Record<string, string>;
	},
) {
	const bodies: Array<Record<string, unknown>> = [];
	const fetchImpl = (async (_url: string, init: RequestInit) => {
		const body = JSON.parse(String(init.body));
		bodies.push(body);
		const a = answer(body);
		return new Response(JSON.stringify(a.json), {
			status: a.status ?? 200,
			headers: { 'content-type': 'application/json', 'x-request-id': 'req_1', ...a.headers },
		});
	}) as unknown as typeof fetch;
	return { fetchImpl, bodies };
}

const completion = (content: string, finish = 'stop') => ({
	id: 'c1',
	object: 'chat.completion',
	created: 0,
	model: 'gpt-4o-mini',
	choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: finish }],
	usage: { prompt_tokens: 12, completion_tokens: 3, total_tokens: 15 },
});

function params(extra: Record<string, unknown> = {}): MockOptions['parameters'] {
	return {
		provider: 'openai',
		model: 'gpt-4o-mini',
		systemPrompt: 'Classify.',
		prompt: (_i: number, item: { json: Record<string, unknown> }) => item.json.text,
		recordId: (_i: number, item: { json: Record<string, unknown> }) => item.json.id,
		outputFormat: 'text',
		concurrency: 2,
		requestsPerMinute: 6000,
		tokensPerMinute: 1_000_000,
		resultField: 'llm',
		ledgerStore: 'none',
		options: { progressIntervalSeconds: 0 },
		...extra,
	};
}

describe('LLM Batch Call node', () => {
	beforeEach(() => resetSharedFlow());

	it('puts every item on Success or Failed with pairedItem and the item contract', async () => {
		const { fetchImpl, bodies } = stubFetch((b) => {
			const text = b.messages[1].content;
			if (text.includes('refuse'))
				return {
					json: {
						...completion(''),
						choices: [
							{
								index: 0,
								message: { role: 'assistant', content: null, refusal: 'no' },
								finish_reason: 'content_filter',
							},
						],
					},
				};
			return { json: completion(`label for ${text}`) };
		});
		const m = mockExecute({
			items: [
				{ id: 'a', text: 'first' },
				{ id: 'b', text: '' },
				{ id: 'c', text: 'please refuse' },
				{ id: 'd', text: 'fourth', error: { code: 'server_error', message: 'old', history: [] } },
			],
			parameters: params(),
			credentials: CREDS,
		});
		const [success, failed] = await executeLlmBatchCall(m.fns, {
			fetch: fetchImpl,
			clock: new FakeClock(Date.parse('2026-01-01T00:00:00Z')),
		});
		const llm = (text: string, recordId: string) => ({
			recordId,
			output: text,
			text,
			model: 'gpt-4o-mini',
			provider: 'openai',
			finishReason: 'stop',
			usage: { inputTokens: 12, outputTokens: 3 },
			costUsd: expect.any(Number),
			attempts: 1,
			latencyMs: 0,
			cached: false,
			promptHash: expect.stringMatching(/^[0-9a-f]{32}:[0-9a-f]{16}$/),
			inputHash: expect.stringMatching(/^[0-9a-f]{32}$/),
			completedAt: '2026-01-01T00:00:00.000Z',
		});
		expect(success).toEqual([
			{
				json: { id: 'a', text: 'first', llm: llm('label for first', 'a') },
				pairedItem: { item: 0 },
			},
			{
				json: { id: 'd', text: 'fourth', llm: llm('label for fourth', 'd') },
				pairedItem: { item: 3 },
			},
		]);
		expect(failed).toEqual([
			{
				json: {
					id: 'b',
					text: '',
					error: {
						code: 'invalid_input',
						message: expect.stringContaining('Prompt is empty'),
						retryable: false,
						attempts: 0,
					},
				},
				pairedItem: { item: 1 },
			},
			{
				json: {
					id: 'c',
					text: 'please refuse',
					error: {
						code: 'content_filter',
						message: expect.stringContaining('refused'),
						retryable: false,
						attempts: 1,
						provider: 'openai',
						requestId: 'req_1',
						// the refusal was billed: what it cost stays on the error
						usage: { inputTokens: 12, outputTokens: 3 },
						costUsd: costUsd('gpt-4o-mini', { inputTokens: 12, outputTokens: 3 }),
					},
				},
				pairedItem: { item: 2 },
			},
		]);
		expect(bodies).toHaveLength(3);
		expect(bodies[0]).toMatchObject({
			model: 'gpt-4o-mini',
			max_tokens: 1024,
			messages: [
				{ role: 'system', content: 'Classify.' },
				{ role: 'user', content: 'first' },
			],
		});
		expect(m.hints).toEqual([
			{
				message: expect.stringContaining(
					'2 of 4 items succeeded, 2 failed (content_filter 1, invalid_input 1)',
				),
				type: 'warning',
				location: 'outputPane',
			},
		]);
		expect(JSON.stringify({ success, failed, logs: m.logs, hints: m.hints })).not.toContain(
			'SECRET',
		);
	});

	it('sends the JSON Schema as response_format and returns parsed output', async () => {
		const schema = {
			type: 'object',
			properties: { label: { type: 'string' } },
			required: ['label'],
		};
		const { fetchImpl, bodies } = stubFetch(() => ({ json: completion('{"label":"bug"}') }));
		const m = mockExecute({
			items: [{ id: 'a', text: 'x' }],
			parameters: params({ outputFormat: 'json', jsonSchema: JSON.stringify(schema) }),
			credentials: CREDS,
		});
		const [success] = await executeLlmBatchCall(m.fns, { fetch: fetchImpl });
		expect((success[0].json.llm as { output: unknown }).output).toEqual({ label: 'bug' });
		expect(bodies[0].response_format).toEqual({
			type: 'json_schema',
			json_schema: { name: 'output', schema, strict: false },
		});
	});

	it('fails an item whose prompt is longer than the context window, naming the field', async () => {
		const { fetchImpl, bodies } = stubFetch(() => ({ json: completion('x') }));
		const m = mockExecute({
			items: [{ id: 'long', text: 'word '.repeat(5000) }],
			parameters: params({ options: { contextWindow: 2000, progressIntervalSeconds: 0 } }),
			credentials: CREDS,
		});
		const [success, failed] = await executeLlmBatchCall(m.fns, { fetch: fetchImpl });
		expect(success).toEqual([]);
		expect(failed[0].json.error).toMatchObject({
			code: 'invalid_input',
			message: expect.stringMatching(/Prompt is too long.*context window 2000/),
		});
		expect(bodies).toHaveLength(0);
	});

	it.each([
		['RPM <= 0', { requestsPerMinute: 0 }, /Requests per Minute must be greater than 0/],
		['concurrency 0', { concurrency: 0 }, /Concurrency must be at least 1/],
		[
			'schema not JSON',
			{ outputFormat: 'json', jsonSchema: '{ not json' },
			/JSON Schema is not valid/,
		],
		[
			'schema not a JSON Schema',
			{ outputFormat: 'json', jsonSchema: '{"type": "banana"}' },
			/JSON Schema is not valid/,
		],
		[
			'array schema with an Anthropic fallback',
			{
				outputFormat: 'json',
				jsonSchema: '{"type": "array", "items": {"type": "string"}}',
				fallbackProvider: 'anthropic',
				fallbackModels: 'claude-haiku-4-5',
			},
			/For Anthropic the JSON Schema must describe an object/,
		],
		['empty model', { model: '  ' }, /Model is empty/],
		['ledger without job', { ledgerStore: 'sqlite', ledgerJob: '' }, /Job Name is empty/],
	])('rejects bad configuration before any call: %s', async (_name, extra, message) => {
		const { fetchImpl, bodies } = stubFetch(() => ({ json: completion('x') }));
		const m = mockExecute({
			items: [{ id: 'a', text: 'x' }],
			parameters: params(extra),
			credentials: CREDS,
		});
		const err = await executeLlmBatchCall(m.fns, { fetch: fetchImpl }).catch((e) => e);
		expect(err).toBeInstanceOf(NodeOperationError);
		expect(err.message).toMatch(message);
		expect(bodies).toHaveLength(0);
	});

	it('rejects a missing credential with a NodeOperationError before any call', async () => {
		const { fetchImpl, bodies } = stubFetch(() => ({ json: completion('x') }));
		const m = mockExecute({
			items: [{ id: 'a', text: 'x' }],
			parameters: params(),
			credentials: {},
		});
		const err = await executeLlmBatchCall(m.fns, { fetch: fetchImpl }).catch((e) => e);
		expect(err).toBeInstanceOf(NodeOperationError);
		expect(err.message).toMatch(/No credential set/);
		expect(bodies).toHaveLength(0);
	});

	it('logs progress lines at the configured interval while it runs', async () => {
		const clock = new FakeClock(0);
		let release!: () => void;
		const gate = new Promise<void>((r) => (release = r));
		const fetchImpl = (async () => {
			await gate;
			return new Response(JSON.stringify(completion('x')), {
				headers: { 'content-type': 'application/json' },
			});
		}) as unknown as typeof fetch;
		const m = mockExecute({
			items: [
				{ id: 'a', text: 'x' },
				{ id: 'b', text: 'y' },
			],
			parameters: params({ options: { progressIntervalSeconds: 5 } }),
			credentials: CREDS,
		});
		const done = executeLlmBatchCall(m.fns, { fetch: fetchImpl, clock });
		await clock.advance(5000);
		await clock.advance(5000);
		release();
		const [success] = await done;
		expect(success).toHaveLength(2);
		const progress = m.logs.filter((l) => l.message.includes('done ('));
		expect(progress.map((l) => l.message.slice(0, 40))).toEqual([
			'Test Node: 0/2 done (0 %) · 0 ok · 0 fai',
			'Test Node: 0/2 done (0 %) · 0 ok · 0 fai',
		]);
		expect(m.logs.at(-1)?.message).toContain('finished — 2 of 2 items succeeded');
	});
});
