import { redactSecrets } from '../../redact';
import type { ProviderName } from '../../types';
import { classifyError, LlmBatchError } from '../errors';
import { createAnthropicProvider } from './anthropic';
import { createOpenAiProvider } from './openai';
import type { Provider, ProviderCredentials } from './types';

export type {
	CallOptions,
	ChatRequest,
	ChatResponse,
	Provider,
	ProviderCredentials,
} from './types';

export function createProvider(
	name: ProviderName,
	creds: ProviderCredentials,
	fetchImpl?: typeof fetch,
): Provider {
	const provider =
		name === 'anthropic'
			? createAnthropicProvider(creds, fetchImpl)
			: createOpenAiProvider(creds, fetchImpl);
	return guarded(provider, [creds.apiKey, creds.organization ?? '']);
}

/**
 * The provider layer's boundary: whatever a call throws leaves it classified (core/call/errors)
 * and redacted of the credential's secrets — message and request ID — with the raw SDK error
 * (body, headers) dropped, so nothing downstream can copy a secret into an item, a hint, a log
 * line or the ledger.
 */
export function guarded(provider: Provider, secrets: readonly string[]): Provider {
	return {
		name: provider.name,
		async complete(req, opts) {
			try {
				return await provider.complete(req, opts);
			} catch (error) {
				throw redacted(classifyError(error, provider.name, (opts.now ?? Date.now)()), secrets);
			}
		},
	};
}

/** The same error without the secrets (and without the raw SDK error as its cause). */
export function redacted(e: LlmBatchError, secrets: readonly string[]): LlmBatchError {
	return new LlmBatchError(e.code, redactSecrets(e.message, secrets), {
		status: e.status,
		provider: e.provider,
		requestId: e.requestId === undefined ? undefined : redactSecrets(e.requestId, secrets),
		retryAfterMs: e.retryAfterMs,
		retryable: e.retryable,
		issues: e.issues?.map((i) => ({ ...i, message: redactSecrets(i.message, secrets) })),
	});
}
