/**
 * A call's answer that reaches the model: the normal reply (a grouped answer when the
 * prompt holds records), spoiled by its fault if it has one (schema broken, cut at the
 * length limit, refused), with usage and prompt-cache counts, in the provider's shape.
 */
import type { CachePlan } from './cache';
import type { Exchange } from './exchange';
import { withGroupFault } from './faults';
import { servedTier } from './flex';
import { withModelMiss } from './model-misses';
import { groupAnswer, parseGroupPrompt } from './group';
import { send } from './http';
import type { ParsedCall } from './protocol';
import { anthropicMessage, geminiResponse, openAiCompletion } from './protocol-answers';
import { MESSAGES } from './protocol-errors';
import { replyFor, tokensForChars, type JsonSchema } from './reply';
import type { SandboxState } from './state';

/** The faults that still answer 200 with a reply (spoiled or not). */
export type ReplyFault = 'truncated' | 'contentPolicy' | 'schemaViolation' | undefined;

interface Reply {
	text: string;
	output?: unknown;
}

export function answerSuccess(
	state: SandboxState,
	x: Exchange,
	call: ParsedCall,
	digest: string,
	fault: ReplyFault,
	inputTokens: number,
	cachePlan: CachePlan | undefined,
): void {
	let reply = modelReply(state, x, call, digest);
	if (fault === 'schemaViolation') reply = breakSchema(reply, call.schema);
	let text = reply.text;
	let finish: 'stop' | 'length' | 'content_filter' = 'stop';
	if (fault === 'truncated') {
		text = text.slice(0, Math.ceil(text.length / 2));
		finish = 'length';
	} else if (fault === 'contentPolicy') {
		text = MESSAGES.refusal;
		finish = 'content_filter';
	}
	const outputTokens = tokensForChars(text.length);
	const now = state.settings.now;
	const cacheUse = state.cache.use(cachePlan, now());
	x.st.cache(cacheUse.use);
	const parts = {
		id: x.id,
		model: call.model,
		created: Math.floor(Date.now() / 1000),
		text,
		toolName: call.toolName,
		toolInput: reply.output,
		finish,
		inputTokens,
		outputTokens,
		cache: cacheUse.use,
		serviceTier: servedTier(call),
	};
	const body =
		x.provider === 'openai'
			? openAiCompletion(parts)
			: x.provider === 'gemini'
				? geminiResponse(parts)
				: anthropicMessage(parts);
	x.st.status(200);
	const billed = { input: inputTokens, output: outputTokens, cached: cacheUse.use.read };
	x.st.billedAt(servedTier(call), billed);
	if (fault) x.st.usage(billed);
	else x.st.success(digest, billed);
	x.st.billed(call.model, {
		input: inputTokens,
		output: outputTokens,
		cacheRead: cacheUse.use.read,
		cacheWrite: cacheUse.use.write,
	});
	send(x.res, 200, body, x.headers);
	cacheUse.commit(now());
}

/** The sandbox's reply to the prompt: one answer per record for a grouped prompt. */
function modelReply(state: SandboxState, x: Exchange, call: ParsedCall, digest: string): Reply {
	const records = call.schema ? parseGroupPrompt(call.prompt) : undefined;
	if (records) {
		const answer = withGroupFault(state.settings, x.st, records, groupAnswer(records, call.schema));
		return { text: JSON.stringify(answer), output: answer };
	}
	const mode = call.jsonObject ? 'json_object' : 'text';
	const reply = replyFor({ prompt: call.prompt, schema: call.schema, mode }, digest);
	const { modelMisses, seed } = state.settings;
	return withModelMiss(reply, call.schema, modelMisses, seed, call.model, digest);
}

/** Valid JSON that breaks the schema: the first required property is left out. */
function breakSchema(reply: Reply, schema: JsonSchema | undefined): Reply {
	if (!reply.output || typeof reply.output !== 'object') return reply;
	const required = (schema?.required as string[] | undefined) ?? [];
	const broken = { ...(reply.output as Record<string, unknown>) };
	delete broken[required[0] ?? Object.keys(broken)[0]];
	return { text: JSON.stringify(broken), output: broken };
}
