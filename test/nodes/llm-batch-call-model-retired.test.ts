/**
 * A model retired in the middle of a run (404 model_not_found after some answers): LLM Batch
 * Call stops sending to it at once. With a fallback model the remaining items (and the one
 * that met the 404) go to the fallback; without one, every remaining item fails fast with
 * `model_not_found` naming the model. OpenAI's and Anthropic's 404 bodies, from a scripted server.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { resetSharedFlow } from '../../core/call/limiter/in-process';
import { executeLlmBatchCall } from '../../nodes/LlmBatchCall/execute';
import {
	startScriptedServer,
	type ScriptedReply,
	type ScriptedServer,
} from '../helpers/scripted-server';
import { parseGroupPrompt } from '../../sandbox/group';
import { mockExecute } from '../helpers/mock-execute';

const RETIRED = 'retired-model';
const FALLBACK = 'fallback-model';
const ITEMS = 20;
const ANSWERS_BEFORE_RETIREMENT = 5;

const openAiAnswer = (model: string, text: string): ScriptedReply => ({
	status: 200,
	body: {
		id: 'c1',
		object: 'chat.completion',
		created: 0,
		model,
		choices: [{ index: 0, message: { role: 'assistant', content: text }, finish_reason: 'stop' }],
		usage: { prompt_tokens: 12, completion_tokens: 3, total_tokens: 15 },
	},
});
const anthropicAnswer = (model: string, text: string): ScriptedReply => ({
	status: 200,
	body: {
		id: 'msg_1',
		type: 'message',
		role: 'assistant',
		model,
		content: [{ type: 'text', text }],
		stop_reason: 'end_turn',
		usage: { input_tokens: 12, output_tokens: 3 },
	},
});
const GONE: Record<'openai' | 'anthropic', ScriptedReply> = {
	openai: {
		status: 404,
		body: {
			error: {
				message: `The model \`${RETIRED}\` does not exist or you do not have access to it.`,
				type: 'invalid_request_error',
				param: null,
				code: 'model_not_found',
			},
		},
	},
	anthropic: {
		status: 404,
		body: { type: 'error', error: { type: 'not_found_error', message: `model: ${RETIRED}` } },
	},
};

function promptOf(body: Record<string, unknown>): string {
	const messages = body.messages as Array<{ content: unknown }>;
	const last = messages[messages.length - 1].content;
	return typeof last === 'string' ? last : JSON.stringify(last);
}

describe.each(['openai', 'anthropic'] as const)('a model retired mid-run (%s)', (provider) => {
	let server: ScriptedServer;
	let retiredAt = 0;
	let answersBeforeRetirement = ANSWERS_BEFORE_RETIREMENT;
	beforeEach(async () => {
		resetSharedFlow();
		retiredAt = 0;
		answersBeforeRetirement = ANSWERS_BEFORE_RETIREMENT;
		let answered = 0;
		server = await startScriptedServer((req, n) => {
			const model = String(req.body.model);
			const answer = provider === 'openai' ? openAiAnswer : anthropicAnswer;
			// A grouped request (Records per Request > 1) is answered per record, as JSON.
			const group = parseGroupPrompt(promptOf(req.body));
			const text = (who: string) =>
				group
					? JSON.stringify(
							Object.fromEntries(
								group.map((r) => [r.id, { ref: r.ref, answer: `${who}: ${r.text}` }]),
							),
						)
					: `${who}: ${promptOf(req.body)}`;
			if (model === RETIRED) {
				if (answered < answersBeforeRetirement) {
					answered++;
					return answer(model, text('primary'));
				}
				if (retiredAt === 0) retiredAt = n;
				return GONE[provider];
			}
			return answer(model, text('fallback'));
		});
	});
	afterEach(async () => server.close());

	const baseUrl = () => (provider === 'openai' ? `${server.url}/v1` : server.url);
	const run = (fallback: boolean, recordsPerRequest = 1) => {
		const m = mockExecute({
			items: Array.from({ length: ITEMS }, (_, i) => ({ id: `R${i}`, text: `ticket ${i}` })),
			parameters: {
				provider,
				model: RETIRED,
				prompt: (_i: number, item: { json: Record<string, unknown> }) => item.json.text,
				recordId: (_i: number, item: { json: Record<string, unknown> }) => item.json.id,
				outputFormat: 'text',
				concurrency: 1,
				requestsPerMinute: 100_000,
				tokensPerMinute: 100_000_000,
				resultField: 'llm',
				ledgerStore: 'none',
				options: { progressIntervalSeconds: 0, maxAttempts: 3, recordsPerRequest },
				...(fallback ? { fallbackProvider: provider, fallbackModels: FALLBACK } : {}),
			},
			credentials: {
				[provider === 'openai' ? 'llmBatchOpenAiApi' : 'llmBatchAnthropicApi']: {
					apiKey: 'k',
					baseUrl: baseUrl(),
				},
				llmBatchFallbackApi: { apiKey: 'k', baseUrl: baseUrl() },
			},
		});
		return executeLlmBatchCall(m.fns).then((out) => ({ out, m }));
	};
	/** Requests the server received for the retired model after its first 404. */
	const sentAfterRetirement = () =>
		server.requests.filter((r, k) => k + 1 > retiredAt && r.body.model === RETIRED).length;

	it('with a fallback model: no request to the retired model after its first 404; the fallback answers the rest', async () => {
		const { out } = await run(true);
		const [success, failed] = out;
		const byModel = (model: string) =>
			success.filter((s) => (s.json.llm as { model: string }).model === model).length;
		console.log(
			`[retired ${provider}, fallback] requests to the retired model after its 404: ${sentAfterRetirement()}; success ${success.length} (primary ${byModel(RETIRED)}, fallback ${byModel(FALLBACK)}), failed ${failed.length}`,
		);
		expect(sentAfterRetirement()).toBe(0);
		expect(failed).toEqual([]);
		expect(success).toHaveLength(ITEMS);
		expect(byModel(RETIRED)).toBe(ANSWERS_BEFORE_RETIREMENT);
		expect(byModel(FALLBACK)).toBe(ITEMS - ANSWERS_BEFORE_RETIREMENT);
		for (const s of success) {
			const i = (s.pairedItem as { item: number }).item;
			expect((s.json.llm as { recordId: string; text: string }).recordId).toBe(`R${i}`);
			expect((s.json.llm as { text: string }).text).toMatch(new RegExp(`: ticket ${i}$`));
		}
	});

	it('without a fallback model: the run stops at the first 404; every remaining item fails fast naming the model', async () => {
		const { out, m } = await run(false);
		const [success, failed] = out;
		console.log(
			`[retired ${provider}, no fallback] requests to the retired model after its 404: ${sentAfterRetirement()}; success ${success.length}, failed ${failed.length} (${[...new Set(failed.map((f) => (f.json.error as { code: string }).code))].join(', ')})`,
		);
		expect(sentAfterRetirement()).toBe(0);
		expect(success).toHaveLength(ANSWERS_BEFORE_RETIREMENT);
		expect(failed).toHaveLength(ITEMS - ANSWERS_BEFORE_RETIREMENT);
		expect(server.requests).toHaveLength(ANSWERS_BEFORE_RETIREMENT + 1);
		for (const f of failed) {
			const error = f.json.error as { code: string; message: string; retryable: boolean };
			expect(error.code).toBe('model_not_found');
			expect(error.retryable).toBe(false);
			expect(error.message).toContain(`"${RETIRED}"`);
		}
		expect(m.hints.map((h) => h.message).join(' ')).toContain('model_not_found');
	});

	it('retired before the run, with a fallback model: one request to it, the fallback answers all', async () => {
		answersBeforeRetirement = 0;
		const { out } = await run(true);
		const [success, failed] = out;
		console.log(
			`[retired ${provider} before the run, fallback] requests to the retired model: ${server.requests.filter((r) => r.body.model === RETIRED).length}; success ${success.length}, failed ${failed.length}`,
		);
		expect(sentAfterRetirement()).toBe(0);
		expect(server.requests.filter((r) => r.body.model === RETIRED)).toHaveLength(1);
		expect(failed).toEqual([]);
		expect(success.map((s) => (s.json.llm as { model: string }).model)).toEqual(
			new Array(ITEMS).fill(FALLBACK),
		);
	});

	it.runIf(provider === 'openai')(
		'grouped requests (Records per Request 4): no request to the retired model after its 404; the fallback answers the rest',
		async () => {
			answersBeforeRetirement = 2;
			const { out } = await run(true, 4);
			const [success, failed] = out;
			const byModel = (model: string) =>
				success.filter((s) => (s.json.llm as { model: string }).model === model).length;
			console.log(
				`[retired ${provider}, grouped, fallback] requests to the retired model after its 404: ${sentAfterRetirement()}; success ${success.length}, failed ${failed.length}`,
			);
			expect(sentAfterRetirement()).toBe(0);
			expect(failed).toEqual([]);
			expect(success).toHaveLength(ITEMS);
			expect([byModel(RETIRED), byModel(FALLBACK)]).toEqual([8, ITEMS - 8]);
			for (const s of success) {
				const i = (s.pairedItem as { item: number }).item;
				expect((s.json.llm as { text: string }).text).toMatch(new RegExp(`: ticket ${i}$`));
			}
		},
	);
});
