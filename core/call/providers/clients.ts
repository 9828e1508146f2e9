import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';

import type { ProviderCredentials } from './types';

/**
 * The one place an SDK client is built, for realtime calls and batch jobs alike. Every client
 * has SDK retries off — the runner (and the batch job's own resend rule) is the one retry layer,
 * and SDK retries would multiply attempts — and takes its transport from the caller: realtime
 * calls and the batch API's streamed results need different fetches.
 */
export function openAiClient(creds: ProviderCredentials, fetch: typeof globalThis.fetch): OpenAI {
	return new OpenAI({
		apiKey: creds.apiKey,
		baseURL: creds.baseUrl || undefined,
		organization: creds.organization || undefined,
		maxRetries: 0,
		fetch,
	});
}

export function anthropicClient(
	creds: ProviderCredentials,
	fetch: typeof globalThis.fetch,
): Anthropic {
	return new Anthropic({
		apiKey: creds.apiKey,
		baseURL: creds.baseUrl || undefined,
		maxRetries: 0,
		fetch,
	});
}
