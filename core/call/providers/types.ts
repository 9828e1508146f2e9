import type { RateLimitInfo } from '../rate-headers';
import type { ProviderName, ServiceTier, Usage } from '../../types';

export interface ChatRequest {
	model: string;
	system?: string;
	prompt: string;
	/** JSON Schema for structured output. */
	schema?: Record<string, unknown>;
	maxTokens: number;
	temperature?: number;
	/**
	 * Mark the stable prefix (tools/schema + system prompt) for the provider's prompt cache.
	 * Anthropic: `cache_control` on the system prompt; OpenAI caches on its own, the key
	 * routes requests with the same prefix to the same cache.
	 */
	cache?: {
		ttl: '5m' | '1h';
		key?: string;
		/**
		 * Anthropic: the prompt's shared prefix ends at this line break (core/call/cache.ts
		 * `markSharedPromptPrefix`); the prompt goes as two text blocks with a breakpoint on the
		 * first.
		 */
		promptPrefixChars?: number;
	};
	/**
	 * A re-ask: the previous answer and what was wrong with it, sent as a follow-up turn
	 * (assistant answer, then a user message with the errors) after the prompt.
	 */
	followUp?: { answer: string; errors: string };
	/**
	 * OpenAI's processing tier (`service_tier`); absent or `auto`: not sent, the project's
	 * setting decides. Anthropic requests never carry it.
	 */
	serviceTier?: ServiceTier;
}

/** A provider's answer, normalised; interpretation (truncated? refused? JSON?) is the runner's. */
export interface ChatResponse {
	text: string;
	/** Parsed structured output when the provider returned it as data (Anthropic tool input). */
	data?: unknown;
	/** Normalised: stop | length | content_filter | tool_use | other provider values. */
	finishReason: string;
	refusal?: string;
	usage: Usage;
	model: string;
	requestId?: string;
	/** The provider's rate-limit headers, when it sent them (the flow controller learns from them). */
	rateLimit?: RateLimitInfo;
	/** The processing tier that answered, as the provider reports it (OpenAI `service_tier`). */
	serviceTier?: string;
}

export interface CallOptions {
	signal?: AbortSignal;
	timeoutMs: number;
	/** The run's clock (reading Retry-After dates). @default Date.now */
	now?: () => number;
}

export interface Provider {
	readonly name: ProviderName;
	complete(req: ChatRequest, opts: CallOptions): Promise<ChatResponse>;
}

export interface ProviderCredentials {
	apiKey: string;
	baseUrl?: string;
	organization?: string;
}
