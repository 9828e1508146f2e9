import type { ProviderName, Usage } from '../../types';

export interface ChatRequest {
	model: string;
	system?: string;
	prompt: string;
	/** JSON Schema for structured output. */
	schema?: Record<string, unknown>;
	maxTokens: number;
	temperature?: number;
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
