/**
 * Context windows (input + output tokens) of common models, for the per-item "prompt too
 * long" check. Longest matching prefix wins; unknown models get a generous default and
 * the node lets the user set the window explicitly (local models vary).
 */
const CONTEXT_WINDOWS: Array<[prefix: string, tokens: number]> = [
	['gpt-5', 400_000],
	['gpt-4.1', 1_047_576],
	['gpt-4o', 128_000],
	['gpt-4-turbo', 128_000],
	['gpt-4', 8_192],
	['gpt-3.5-turbo', 16_385],
	['o1', 200_000],
	['o3', 200_000],
	['o4-mini', 200_000],
	['claude-', 200_000],
	['gemini-', 1_048_576],
	['llama3', 8_192],
	['llama-3.1', 128_000],
	['mistral', 32_000],
	['qwen', 32_000],
	['sandbox', 128_000],
];

export const DEFAULT_CONTEXT_WINDOW = 128_000;

/** The model's context window in tokens: `override` when set (> 0), else the known window. */
export function contextWindow(model: string, override = 0): number {
	if (override > 0) return override;
	const m = model.toLowerCase();
	let best: [string, number] | undefined;
	for (const entry of CONTEXT_WINDOWS) {
		if (m.startsWith(entry[0]) && (!best || entry[0].length > best[0].length)) best = entry;
	}
	return best ? best[1] : DEFAULT_CONTEXT_WINDOW;
}

/** OpenAI's reasoning models take `max_completion_tokens` and no temperature. */
export function isOpenAiReasoningModel(model: string): boolean {
	return /^(o\d|gpt-5)/i.test(model);
}

/**
 * The shortest prompt prefix (tokens, up to and including the cache breakpoint) a provider
 * caches for `model`; a shorter prefix is processed uncached even when marked. Anthropic
 * (prompt-caching docs): 4,096 for Claude Opus 4.5 and Haiku 4.5, 2,048 for Haiku 3 / 3.5,
 * 1,024 for the other Claude models. OpenAI caches prompts of 1,024 tokens or more.
 */
export function minCacheableTokens(model: string): number {
	const m = model.trim().toLowerCase().replace(/^.*\//, '');
	if (/^claude-(opus-4-5|haiku-4-5)/.test(m)) return 4096;
	if (/^claude-(3-5-haiku|3-haiku|haiku-3)/.test(m)) return 2048;
	return 1024;
}
