/**
 * What one request of a batch comes back as: the sandbox's normal reply, an error (a bad
 * request, or a prompt forcing `[[sandbox:status400]]` / `[[sandbox:status500]]`), a refusal
 * (`[[sandbox:contentPolicy]]`: finish reason content_filter, paid), or not done (expired /
 * canceled) when processing did not reach it.
 */
import type { CacheUse } from '../cache';
import { applyGroupFault, GROUP_FAULT_KINDS, groupAnswer, parseGroupPrompt } from '../group';
import { requestRng } from '../prng';
import { parseAnthropic, parseGemini, parseOpenAi, type ParsedCall } from '../protocol';
import { anthropicMessage, geminiResponse, openAiCompletion } from '../protocol-answers';
import { MESSAGES, errorAnswer } from '../protocol-errors';
import { promptDigest, replyFor, tokensForChars } from '../reply';
import { lineCacheUse } from './line-cache';
import type { Batch, Line } from './types';

/** What an answered line was billed: every input token (cache reads and writes included), output. */
export interface LineUsage {
	input: number;
	output: number;
	cache: CacheUse;
}

export type LineResult =
	| { kind: 'ok'; body: string; status: 200; usage: LineUsage }
	| { kind: 'error'; status: number; body: string }
	| { kind: 'not_done'; why: 'expired' | 'canceled' };

export function lineResult(
	b: Batch,
	line: Line,
	reached: boolean,
	reason: string,
	now: () => number,
): LineResult {
	if (!reached) return { kind: 'not_done', why: reason === 'cancelled' ? 'canceled' : 'expired' };
	const parsed =
		b.provider === 'openai'
			? parseOpenAi(line.body)
			: b.provider === 'gemini'
				? parseGemini(line.body, b.model ?? '')
				: parseAnthropic(line.body);
	const requestId = `req_${b.id}_${line.customId}`;
	const error = (kind: 'invalid_request' | 'server', message: string): LineResult => {
		const e = errorAnswer(b.provider, kind, message, requestId);
		return { kind: 'error', status: e.status, body: e.body };
	};
	if (!parsed.ok) return error('invalid_request', parsed.message);
	const call = parsed.call;
	if (call.prompt.includes('[[sandbox:status400]]'))
		return error('invalid_request', 'Invalid request (sandbox fault status400).');
	if (call.prompt.includes('[[sandbox:status500]]'))
		return error('server', 'The server had an error while processing your request.');
	const reply = modelReply(b, call);
	const refused = call.prompt.includes('[[sandbox:contentPolicy]]');
	const text = refused ? MESSAGES.refusal : reply.text;
	const usage: LineUsage = {
		input: tokensForChars(call.inputChars),
		output: tokensForChars(text.length),
		cache: lineCacheUse(b, line),
	};
	const parts = {
		id: `${b.id}_${line.customId}`,
		model: call.model,
		created: Math.floor(now() / 1000),
		text,
		toolName: call.toolName,
		toolInput: reply.output,
		finish: refused ? ('content_filter' as const) : ('stop' as const),
		inputTokens: usage.input,
		outputTokens: usage.output,
		cache: usage.cache,
	};
	return {
		kind: 'ok',
		status: 200,
		usage,
		body:
			b.provider === 'openai'
				? openAiCompletion(parts)
				: b.provider === 'gemini'
					? geminiResponse(parts)
					: anthropicMessage(parts),
	};
}

/**
 * The sandbox's reply to a request line, as the realtime endpoints make it (sandbox/answer.ts):
 * a grouped prompt (Records per Request) gets one answer per record, each the answer that
 * record gets alone, spoiled by the batch's `groupFaults` when a seeded roll says so.
 */
function modelReply(b: Batch, call: ParsedCall): { text: string; output?: unknown } {
	const records = call.schema ? parseGroupPrompt(call.prompt) : undefined;
	if (!records) {
		const mode = call.jsonObject ? 'json_object' : 'text';
		return replyFor({ prompt: call.prompt, schema: call.schema, mode }, promptDigest(call.prompt));
	}
	let answer = groupAnswer(records, call.schema);
	const rng = requestRng(b.seed ?? 0, promptDigest(`${b.id}\u0000${call.prompt}`), 0);
	const roll = rng();
	const pick = rng();
	let acc = 0;
	for (const k of GROUP_FAULT_KINDS) {
		acc += b.groupFaults?.[k] ?? 0;
		if (roll < acc) {
			answer = applyGroupFault(answer, k, pick);
			break;
		}
	}
	return { text: JSON.stringify(answer), output: answer };
}
