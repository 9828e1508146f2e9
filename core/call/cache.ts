/**
 * When to ask for prompt caching. The stable prefix of every request is the schema (a tool
 * for Anthropic, `response_format` for OpenAI) and the system prompt; per-item text comes
 * after it. Anthropic caches a prefix only when it is marked with `cache_control` and at
 * least the model's minimum length (core/models.ts); OpenAI caches any prompt of 1,024+
 * tokens on its own, and `prompt_cache_key` keeps requests with the same prefix on the
 * same cache.
 */
import { createHash } from 'node:crypto';

import { minCacheableTokens } from '../models';
import type { ProviderName } from '../types';
import type { AttachedFile } from './attachments';
import type { ChatRequest } from './providers/types';

export interface CachePlanShape {
	provider: ProviderName;
	model: string;
	ttl: '5m' | '1h';
	/** Estimated tokens of the schema. */
	schemaTokens: number;
	schema?: Record<string, unknown>;
}

export interface CacheDecision {
	marker: NonNullable<ChatRequest['cache']>;
	/** Estimated tokens of the cached prefix. */
	prefixTokens: number;
}

/**
 * Per system prompt (memoised: most runs have one): the cache marker for requests with it,
 * or undefined when the prefix is shorter than the model caches.
 */
export function cachePlanner(shape: CachePlanShape): (system: string) => CacheDecision | undefined {
	const min = minCacheableTokens(shape.model);
	const memo = new Map<string, CacheDecision | undefined>();
	const schemaText = shape.schema ? JSON.stringify(shape.schema) : '';
	return (system) => {
		if (memo.has(system)) return memo.get(system);
		// ~4 characters per token, as the limiter estimates.
		const prefixTokens = (system ? Math.ceil(system.length / 4) : 0) + shape.schemaTokens;
		let d: CacheDecision | undefined;
		if (system !== '' && prefixTokens >= min) {
			const key = createHash('sha256')
				.update([shape.model, schemaText, system].join('\u0000'))
				.digest('hex')
				.slice(0, 32);
			d = {
				marker: {
					ttl: shape.ttl,
					...(shape.provider === 'openai' ? { key: `llm-batch-${key}` } : {}),
				},
				prefixTokens,
			};
		}
		memo.set(system, d);
		return d;
	};
}

/**
 * The prompt's own part of a breakpoint must be at least this long: a short template head
 * ("Subject: ") saves nothing worth a cache write of its own.
 */
export const MIN_PROMPT_PREFIX_TOKENS = 256;

/**
 * Where the prompts' shared prefix ends: the index of the last line break inside the longest
 * prefix every prompt starts with (0 = none). Cut at a line break, so the prompt is sent as
 * two text blocks — the shared lines, then the rest — with only that line break between
 * them. Linear: each prompt is compared up to the current shared length only.
 */
export function sharedPromptPrefix(prompts: readonly string[]): number {
	if (prompts.length < 2) return 0;
	const first = prompts[0];
	let shared = first.length;
	let shortest = first.length;
	for (let p = 1; p < prompts.length && shared > 0; p++) {
		const s = prompts[p];
		shortest = Math.min(shortest, s.length);
		const n = Math.min(shared, s.length);
		let i = 0;
		while (i < n && s.charCodeAt(i) === first.charCodeAt(i)) i++;
		shared = i;
	}
	// The last line break inside the shared part with text after it in every prompt.
	let cut = shared > 0 ? first.lastIndexOf('\n', shared - 1) : -1;
	if (cut > 0 && cut + 1 >= shortest) cut = first.lastIndexOf('\n', cut - 1);
	return cut > 0 ? cut : 0;
}

/**
 * Anthropic: a second `cache_control` breakpoint at the end of the prompts' shared prefix
 * (e.g. a template's long static instructions before the per-record fields), when the prefix
 * up to it — tools, system prompt, shared lines — is at least the model's minimum and the
 * shared lines themselves at least MIN_PROMPT_PREFIX_TOKENS. Two breakpoints of Anthropic's
 * four: the system prompt (core/call/providers/bodies.ts) and this one. Items marked get
 * `cache.promptPrefixChars` and their `cachePrefixTokens` grown by the shared lines.
 */
export function markSharedPromptPrefix(
	items: Array<{ request: ChatRequest; cachePrefixTokens?: number }>,
	shape: { provider: ProviderName; model: string; ttl: '5m' | '1h'; schemaTokens: number },
): number {
	if (shape.provider !== 'anthropic') return 0;
	const singles = items.filter((i) => !i.request.followUp);
	const cut = sharedPromptPrefix(singles.map((i) => i.request.prompt));
	const prefixTokens = Math.ceil(cut / 4);
	if (cut === 0 || prefixTokens < MIN_PROMPT_PREFIX_TOKENS) return 0;
	const min = minCacheableTokens(shape.model);
	let marked = 0;
	for (const item of singles) {
		const system = item.request.system ?? '';
		const before = (system ? Math.ceil(system.length / 4) : 0) + shape.schemaTokens;
		if (before + prefixTokens < min) continue;
		item.request.cache = { ...(item.request.cache ?? { ttl: shape.ttl }), promptPrefixChars: cut };
		item.cachePrefixTokens = before + prefixTokens;
		marked++;
	}
	return marked;
}

/**
 * Anthropic: a file several items send (the same terms sheet, a shared reference PDF) is
 * cached with the prefix — it goes first in the message with a breakpoint on it
 * (core/call/providers/bodies.ts), so every item after the first reads it at the cache price.
 * A file only one item sends is not marked: its cache write would cost 1.25× for nothing.
 */
export function markSharedAttachments(
	items: Array<{ request: ChatRequest; cachePrefixTokens?: number }>,
	shape: { provider: ProviderName; ttl: '5m' | '1h' },
	tokensOf: (file: AttachedFile) => number,
): number {
	if (shape.provider !== 'anthropic') return 0;
	const seen = new Map<string, number>();
	for (const item of items)
		for (const f of item.request.attachments ?? [])
			seen.set(f.sha256, (seen.get(f.sha256) ?? 0) + 1);
	let marked = 0;
	for (const item of items) {
		const files = item.request.attachments;
		if (!files?.some((f) => (seen.get(f.sha256) ?? 0) > 1)) continue;
		item.request.attachments = files.map((f) =>
			(seen.get(f.sha256) ?? 0) > 1 ? { ...f, shared: true } : f,
		);
		item.request.cache ??= { ttl: shape.ttl };
		const sharedTokens = item.request.attachments
			.filter((f) => f.shared)
			.reduce((sum, f) => sum + tokensOf(f), 0);
		item.cachePrefixTokens = (item.cachePrefixTokens ?? 0) + sharedTokens;
		marked++;
	}
	return marked;
}
