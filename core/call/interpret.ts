import { LlmBatchError } from './errors';
import type { ChatResponse } from './providers/types';
import type { RunItem } from './types';
import type { ProviderName, LlmResult, ServiceTier, Usage } from '../types';
import { extractJson, type SchemaValidator } from '../schema';

/** What reading an answer needs besides the answer: LLM Batch Call and LLM Batch Job share it. */
export interface AnswerPolicy {
	readonly provider: ProviderName;
	/** Structured output asked for: the answer must be JSON (and pass `validate` when given). */
	readonly structured?: { validate?: SchemaValidator };
	readonly costOf?: (model: string, usage: Usage) => number | undefined;
	readonly now: () => number;
	/** The processing tier the run asks for: the result then says which tier answered. */
	readonly serviceTier?: ServiceTier;
}

/**
 * Turns a provider answer into a result, or throws the taxonomy's error for it
 * (content_filter, truncated, malformed_output, schema_violation).
 */
export function interpretAnswer(
	policy: AnswerPolicy,
	item: Pick<RunItem, 'recordId' | 'promptHash' | 'inputHash' | 'group'> & {
		request: Pick<RunItem['request'], 'model' | 'maxTokens'>;
	},
	res: ChatResponse,
	attempts: number,
	latencyMs: number,
): LlmResult {
	const provider = policy.provider;
	const base = { provider, requestId: res.requestId };
	if (res.finishReason === 'content_filter' || res.refusal) {
		throw new LlmBatchError(
			'content_filter',
			`The model refused this item (content policy)${res.refusal ? `: ${res.refusal}` : ''}`,
			base,
		);
	}
	if (res.finishReason === 'length') {
		throw new LlmBatchError(
			'truncated',
			`The answer was cut off at max tokens (${item.request.maxTokens}); raise Max Tokens`,
			base,
		);
	}
	if (res.data === undefined && res.text.trim() === '') {
		// choices [] / content null / no content blocks: never a success.
		throw new LlmBatchError('malformed_output', 'The provider sent an empty answer', base);
	}
	const output = readOutput(policy, item.group === true, res, base);
	const usage = res.usage;
	return {
		recordId: item.recordId,
		output,
		text: res.text,
		model: res.model,
		provider,
		finishReason: res.finishReason,
		usage,
		// Priced as the model asked for (its price is the one set or checked), else as the
		// model that says it answered.
		costUsd:
			policy.costOf?.(item.request.model, usage) ??
			(res.model ? policy.costOf?.(res.model, usage) : undefined),
		attempts,
		latencyMs,
		cached: false,
		promptHash: item.promptHash,
		...(item.inputHash === undefined ? {} : { inputHash: item.inputHash }),
		completedAt: new Date(policy.now()).toISOString(),
		...answeredTier(policy.serviceTier, res.serviceTier),
	};
}

/** Which tier answered, when the run asked for one or the provider reports a non-standard one. */
function answeredTier(asked: ServiceTier | undefined, reported: string | undefined) {
	if (reported === undefined) return {};
	const askedOne = asked !== undefined && asked !== 'auto';
	return askedOne || reported !== 'default' ? { serviceTier: reported } : {};
}

/**
 * The answer's output: its text, or the JSON asked for — one object keyed by record ID for a
 * grouped request (core/call/group.ts splits and checks it per record), else valid against
 * the schema when one is set.
 */
function readOutput(
	policy: AnswerPolicy,
	group: boolean,
	res: ChatResponse,
	base: { provider: ProviderName; requestId?: string },
): unknown {
	if (group) {
		const parsed =
			res.data !== undefined ? { ok: true as const, value: res.data } : extractJson(res.text);
		if (
			!parsed.ok ||
			!parsed.value ||
			typeof parsed.value !== 'object' ||
			Array.isArray(parsed.value)
		)
			throw new LlmBatchError(
				'malformed_output',
				`The grouped answer is not a JSON object keyed by record ID${parsed.ok ? '' : `: ${parsed.message}`}`,
				base,
			);
		return parsed.value;
	}
	if (!policy.structured) return res.text;
	let output: unknown;
	if (res.data !== undefined) output = res.data;
	else {
		const parsed = extractJson(res.text);
		if (!parsed.ok)
			throw new LlmBatchError(
				'malformed_output',
				`The answer is not the JSON that was asked for: ${parsed.message}`,
				base,
			);
		output = parsed.value;
	}
	const issues = policy.structured.validate?.(output);
	if (issues && issues.length > 0) {
		throw new LlmBatchError(
			'schema_violation',
			`The answer does not match the JSON Schema: ${issues.map((i) => `${i.path || '/'} ${i.message}`).join('; ')}`,
			{ ...base, issues },
		);
	}
	return output;
}
