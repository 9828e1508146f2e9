/**
 * Prompt caching in batch requests: the same marks as LLM Batch Call (core/call/cache.ts) —
 * the system prompt and schema get theirs when each record's request is built
 * (core/call/input.ts); here, for requests of one record, Anthropic's second breakpoint at the
 * end of the lines every prompt starts with. A grouped request's prompt is its records, so
 * only its system prompt is marked. Priced from the usage each result line reports, through
 * the one cost meter (cache prices first, then the batch discount: core/cost.ts).
 */
import { markSharedPromptPrefix } from '../call/cache';
import type { ProviderName } from '../types';
import { jsonSchemaTokens } from '../tokens';
import type { PreparedRecord } from './submit';

export function markBatchPromptCache(
	records: readonly PreparedRecord[],
	o: {
		provider: ProviderName;
		model: string;
		ttl: '5m' | '1h' | 'off';
		schema?: Record<string, unknown>;
		recordsPerRequest: number;
	},
): number {
	if (o.ttl === 'off' || o.recordsPerRequest > 1) return 0;
	return markSharedPromptPrefix(records as PreparedRecord[], {
		provider: o.provider,
		model: o.model,
		ttl: o.ttl,
		schemaTokens: o.schema ? jsonSchemaTokens(o.schema) : 0,
	});
}
