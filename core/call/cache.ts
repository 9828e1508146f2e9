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
