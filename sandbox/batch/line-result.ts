/**
 * What one request of a batch comes back as: the sandbox's normal reply, an error (a bad
 * request, or a prompt forcing `[[sandbox:status400]]` / `[[sandbox:status500]]`), a refusal
 * (`[[sandbox:contentPolicy]]`: finish reason content_filter, paid), or not done (expired /
 * canceled) when processing did not reach it.
 */
import { withDocumentFields } from '../documents';
import { callInputTokens, parseAnthropic, parseOpenAi } from '../protocol';
import { anthropicMessage, openAiCompletion } from '../protocol-answers';
import { MESSAGES, errorAnswer } from '../protocol-errors';
import { promptDigest, replyFor, tokensForChars } from '../reply';
import type { Batch, Line } from './types';

export type LineResult =
	| { kind: 'ok'; body: string; status: 200 }
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
	const parsed = b.provider === 'openai' ? parseOpenAi(line.body) : parseAnthropic(line.body);
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
	const digest = promptDigest(call.prompt);
	const reply = withDocumentFields(
		replyFor(
			{ prompt: call.prompt, schema: call.schema, mode: call.jsonObject ? 'json_object' : 'text' },
			digest,
		),
		call.schema,
		call.documents,
	);
	const refused = call.prompt.includes('[[sandbox:contentPolicy]]');
	const text = refused ? MESSAGES.refusal : reply.text;
	const parts = {
		id: `${b.id}_${line.customId}`,
		model: call.model,
		created: Math.floor(now() / 1000),
		text,
		toolName: call.toolName,
		toolInput: reply.output,
		finish: refused ? ('content_filter' as const) : ('stop' as const),
		inputTokens: callInputTokens(call, tokensForChars),
		outputTokens: tokensForChars(text.length),
	};
	return {
		kind: 'ok',
		status: 200,
		body: b.provider === 'openai' ? openAiCompletion(parts) : anthropicMessage(parts),
	};
}
