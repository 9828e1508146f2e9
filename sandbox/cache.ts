/**
 * The sandbox's prompt cache: deterministic, so tests and benches can assert exact cached
 * token counts. A prefix seen before within its TTL is a read; otherwise it is a write,
 * and the entry becomes usable when that answer is sent (as with the real providers, a
 * cache entry exists only once the first response has begun).
 *
 * Anthropic: the prefix runs up to the last `cache_control` breakpoint (tools, then the
 * system prompt), cached when at least the model's minimum; usage reports
 * `cache_creation_input_tokens` / `cache_read_input_tokens` and `input_tokens` without them.
 * OpenAI: automatic for prompts of 1,024+ tokens; the stable prefix (system message and
 * schema) is cached in 128-token steps, keyed by `prompt_cache_key`; usage reports
 * `prompt_tokens_details.cached_tokens` inside `prompt_tokens`.
 */
import { createHash } from 'node:crypto';

import { minCacheableTokens } from '../core/models';
import { tokensForChars } from './reply';

export interface CachePlan {
	/** Identity of the cached prefix (model + content). */
	key: string;
	/** Tokens of the prefix. */
	tokens: number;
	ttlMs: number;
	ttl: '5m' | '1h';
}

export interface CacheUse {
	read: number;
	write: number;
	write1h: number;
}

const MIN = 60_000;

/** The cacheable prefix of an Anthropic request, if it is marked and long enough. */
export function anthropicCachePlan(
	body: Record<string, unknown>,
	model: string,
): CachePlan | undefined {
	const system = body.system;
	if (!Array.isArray(system)) return undefined;
	let chars = 0;
	let text = JSON.stringify(body.tools ?? null);
	let mark: { ttl?: unknown } | undefined;
	for (const block of system as Array<Record<string, unknown>>) {
		const t = typeof block?.text === 'string' ? block.text : '';
		chars += t.length;
		text += `\u0000${t}`;
		const cc = block?.cache_control as { type?: unknown; ttl?: unknown } | undefined;
		if (cc && cc.type === 'ephemeral') mark = cc;
		if (mark) break;
	}
	if (!mark) return undefined;
	const tokens = tokensForChars(chars);
	if (tokens < minCacheableTokens(model)) return undefined;
	const ttl = mark.ttl === '1h' ? '1h' : '5m';
	return {
		key: digest(`a\u0000${model}\u0000${text}`),
		tokens,
		ttl,
		ttlMs: ttl === '1h' ? 60 * MIN : 5 * MIN,
	};
}

/** The cacheable prefix of an OpenAI request: the leading system message(s) and the schema. */
export function openAiCachePlan(
	body: Record<string, unknown>,
	model: string,
): CachePlan | undefined {
	const messages = Array.isArray(body.messages)
		? (body.messages as Array<Record<string, unknown>>)
		: [];
	let chars = 0;
	let text = JSON.stringify(body.response_format ?? null);
	for (const m of messages) {
		if (m?.role !== 'system' && m?.role !== 'developer') break;
		const t = typeof m.content === 'string' ? m.content : JSON.stringify(m.content ?? '');
		chars += t.length;
		text += `\u0000${t}`;
	}
	const tokens = Math.floor(tokensForChars(chars) / 128) * 128;
	if (chars === 0 || tokens < 1024) return undefined;
	const key = typeof body.prompt_cache_key === 'string' ? body.prompt_cache_key : '';
	return {
		key: digest(`o\u0000${model}\u0000${key}\u0000${text}`),
		tokens,
		ttl: '5m',
		ttlMs: 5 * MIN,
	};
}

function digest(s: string): string {
	return createHash('sha256').update(s).digest('hex');
}

export class PromptCache {
	private readonly entries = new Map<string, number>();

	/** How this request uses the cache; `commit` makes a write usable (call it when answering). */
	use(plan: CachePlan | undefined, now: number): { use: CacheUse; commit: (at: number) => void } {
		const none = { read: 0, write: 0, write1h: 0 };
		if (!plan) return { use: none, commit: () => undefined };
		const until = this.entries.get(plan.key);
		if (until !== undefined && until > now) {
			// A read refreshes the entry's lifetime.
			this.entries.set(plan.key, now + plan.ttlMs);
			return { use: { ...none, read: plan.tokens }, commit: () => undefined };
		}
		return {
			use: { read: 0, write: plan.tokens, write1h: plan.ttl === '1h' ? plan.tokens : 0 },
			commit: (at) => this.entries.set(plan.key, at + plan.ttlMs),
		};
	}

	clear(): void {
		this.entries.clear();
	}
}
