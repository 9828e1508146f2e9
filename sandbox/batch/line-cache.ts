/**
 * The prompt cache inside one batch: its requests are processed one after another (in the
 * batch's shuffled order), so a request whose cacheable prefix an earlier request of the
 * batch wrote reads it, as on the realtime endpoints (sandbox/cache.ts, same plans, same TTLs,
 * each request at the moment the batch processes it). Computed once per batch, so reading
 * the results again reports the same usage.
 */
import { PromptCache, anthropicCachePlan, openAiCachePlan, type CacheUse } from '../cache';
import type { Batch, Line } from './types';

const uses = new WeakMap<Batch, Map<Line, CacheUse>>();

/** How the request `line` of batch `b` used the prompt cache. */
export function lineCacheUse(b: Batch, line: Line): CacheUse {
	let byLine = uses.get(b);
	if (!byLine) {
		byLine = new Map();
		const cache = new PromptCache();
		const n = b.order.length;
		for (let k = 0; k < n; k++) {
			const l = b.lines[b.order[k]];
			const model = typeof l.body.model === 'string' ? l.body.model : '';
			// Gemini's implicit cache is not modelled (as on its realtime endpoint).
			const plan =
				b.provider === 'anthropic'
					? anthropicCachePlan(l.body, model)
					: b.provider === 'gemini'
						? undefined
						: openAiCachePlan(l.body, model);
			const at = b.createdAt + (b.processingMs * (k + 1)) / n;
			const { use, commit } = cache.use(plan, at);
			commit(at);
			byLine.set(l, use);
		}
		uses.set(b, byLine);
	}
	return byLine.get(line) ?? { read: 0, write: 0, write1h: 0 };
}
