/**
 * A record looped back from Validate Output (or LLM Batch Call's Failed output) is re-asked:
 * its first request carries the earlier answer and what was wrong with it. When that re-ask's
 * answer is invalid too and the fix is a fresh call, the fresh call is the plain prompt again —
 * without the earlier turn — and its reservation is priced as such.
 */
import { beforeEach, describe, expect, it } from 'vitest';

import { resetSharedFlow } from '../../core/call/limiter/in-process';
import { executeLlmBatchCall } from '../../nodes/LlmBatchCall/execute';
import { FakeClock } from '../helpers/fake-clock';
import { mockExecute } from '../helpers/mock-execute';

const SCHEMA = {
	type: 'object',
	properties: { label: { type: 'string' } },
	required: ['label'],
};

type Body = { messages: Array<{ role: string; content: string }> };

/** Answers from `answers` in order, recording each request body. */
function scripted(answers: string[]) {
	const bodies: Body[] = [];
	const fetchImpl = (async (_url: string, init: RequestInit) => {
		bodies.push(JSON.parse(String(init.body)) as Body);
		const content = answers[Math.min(bodies.length - 1, answers.length - 1)];
		return new Response(
			JSON.stringify({
				id: 'c1',
				object: 'chat.completion',
				created: 0,
				model: 'gpt-4o-mini',
				choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }],
				usage: { prompt_tokens: 12, completion_tokens: 3, total_tokens: 15 },
			}),
			{ status: 200, headers: { 'content-type': 'application/json' } },
		);
	}) as unknown as typeof fetch;
	return { fetchImpl, bodies };
}

/** An item as Validate Output's Invalid output hands it back. */
const loopedBack = {
	id: 'a',
	text: 'Printer on fire',
	llm: { text: '{"category":"bug"}', attempts: 1, usage: { inputTokens: 12, outputTokens: 3 } },
	error: {
		code: 'schema_violation',
		message: 'The answer does not match the schema',
		retryable: true,
		attempts: 1,
		issues: [{ path: '/', message: "must have required property 'label'", code: 'required' }],
	},
};

describe('LLM Batch Call: a workflow re-ask fixed by a fresh call', () => {
	beforeEach(() => resetSharedFlow());

	it('sends the fresh call without the earlier answer and its errors', async () => {
		const { fetchImpl, bodies } = scripted(['{"still":"wrong"}', '{"label":"bug"}']);
		const m = mockExecute({
			items: [loopedBack],
			credentials: {
				llmBatchOpenAiApi: { apiKey: 'sk-test', baseUrl: 'http://llm.test/v1' },
			},
			parameters: {
				provider: 'openai',
				model: 'gpt-4o-mini',
				systemPrompt: 'Classify.',
				prompt: (_i: number, item: { json: Record<string, unknown> }) => item.json.text,
				recordId: (_i: number, item: { json: Record<string, unknown> }) => item.json.id,
				outputFormat: 'json',
				jsonSchema: JSON.stringify(SCHEMA),
				concurrency: 1,
				requestsPerMinute: 6000,
				tokensPerMinute: 1_000_000,
				resultField: 'llm',
				ledgerStore: 'none',
				options: { progressIntervalSeconds: 0, fixInvalidBy: 'fresh', maxReasks: 2 },
			},
		});
		const [success, failed] = await executeLlmBatchCall(m.fns, {
			fetch: fetchImpl,
			clock: new FakeClock(Date.parse('2026-01-01T00:00:00Z')),
		});
		expect(failed).toEqual([]);
		expect(success).toHaveLength(1);
		expect((success[0].json.llm as { output: unknown }).output).toEqual({ label: 'bug' });
		const roles = bodies.map((b) => b.messages.map((msg) => msg.role));
		expect(roles).toEqual([
			// the workflow's re-ask: the earlier answer and what was wrong with it
			['system', 'user', 'assistant', 'user'],
			// the fresh call: the prompt alone
			['system', 'user'],
		]);
		expect(bodies[1].messages[1].content).toBe('Printer on fire');
	});
});
