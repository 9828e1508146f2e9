/**
 * The sandbox's prompt cache: deterministic, so tests and benches can assert exact cached
 * token counts. A prefix seen before within its TTL is a read; otherwise it is a write,
 * and the entry becomes usable when that answer is sent (as with the real providers, a
 * cache entry exists only once the first response has begun).
 *
 * Anthropic: every `cache_control` breakpoint (tools, then the system blocks, then the
 * content blocks of the messages, at most 4) ends a cacheable prefix when that prefix is at
 * least the model's minimum. A request reads the longest of its prefixes that is cached and
 * writes the rest up to its last one; usage reports `cache_creation_input_tokens` /
 * `cache_read_input_tokens` and `input_tokens` without them.
 * OpenAI: automatic for prompts of 1,024+ tokens; the stable prefix (system message and
 * schema) is cached in 128-token steps, keyed by `prompt_cache_key`; usage reports
 * `prompt_tokens_details.cached_tokens` inside `prompt_tokens`.
 */
import { createHash } from 'node:crypto';

import { minCacheableTokens } from '../core/models';
import { tokensForChars } from './reply';

export interface CachePlan {
	/** The cacheable prefixes, shortest first: identity (model + content) and tokens. */
	points: Array<{ key: string; tokens: number }>;
	ttlMs: number;
	ttl: '5m' | '1h';
}

export interface CacheUse {
	read: number;
	write: number;
	write1h: number;
}

const MIN = 60_000;

/** The cacheable prefixes of an Anthropic request: one per breakpoint that is long enough. */
export function anthropicCachePlan(
	body: Record<string, unknown>,
	model: string,
): CachePlan | undefined {
	const blocks: Array<Record<string, unknown>> = [];
	if (Array.isArray(body.system)) blocks.push(...(body.system as Array<Record<string, unknown>>));
	else if (typeof body.system === 'string') blocks.push({ text: body.system });
	for (const m of Array.isArray(body.messages)
		? (body.messages as Array<Record<string, unknown>>)
		: []) {
		const content = m?.content;
		if (Array.isArray(content)) blocks.push(...(content as Array<Record<string, unknown>>));
		else if (typeof content === 'string') blocks.push({ text: content });
	}
	const min = minCacheableTokens(model);
	let chars = 0;
	let text = JSON.stringify(body.tools ?? null);
	let ttl: '5m' | '1h' | undefined;
	let breakpoints = 0;
	const points: CachePlan['points'] = [];
	for (const block of blocks) {
		const t = typeof block?.text === 'string' ? block.text : '';
		chars += t.length;
		text += `\u0000${t}`;
		const cc = block?.cache_control as { type?: unknown; ttl?: unknown } | undefined;
		if (!cc || cc.type !== 'ephemeral') continue;
		// Anthropic takes at most 4 breakpoints per request.
		if (++breakpoints > 4) break;
		ttl ??= cc.ttl === '1h' ? '1h' : '5m';
		const tokens = tokensForChars(chars);
		if (tokens >= min) points.push({ key: digest(`a\u0000${model}\u0000${text}`), tokens });
	}
	if (points.length === 0 || !ttl) return undefined;
	return { points, ttl, ttlMs: ttl === '1h' ? 60 * MIN : 5 * MIN };
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
		points: [{ key: digest(`o\u0000${model}\u0000${key}\u0000${text}`), tokens }],
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
		// The longest cached prefix is read; the request writes up to its last breakpoint.
		let read = 0;
		for (const p of plan.points) {
			const until = this.entries.get(p.key);
			if (until !== undefined && until > now) {
				// A read refreshes the entry's lifetime.
				this.entries.set(p.key, now + plan.ttlMs);
				read = p.tokens;
			}
		}
		const last = plan.points[plan.points.length - 1];
		const write = last.tokens - read;
		if (write <= 0) return { use: { ...none, read }, commit: () => undefined };
		return {
			use: { read, write, write1h: plan.ttl === '1h' ? write : 0 },
			commit: (at) => {
				for (const p of plan.points) if (p.tokens > read) this.entries.set(p.key, at + plan.ttlMs);
			},
		};
	}

	clear(): void {
		this.entries.clear();
	}
}
