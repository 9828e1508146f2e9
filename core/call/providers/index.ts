import type { ProviderName } from '../../types';
import { createAnthropicProvider } from './anthropic';
import { createGeminiProvider } from './gemini';
import { createOpenAiProvider } from './openai';
import { credentialSecrets, secretGuard } from './guard';
import type { Provider, ProviderCredentials } from './types';

export type {
	CallOptions,
	ChatRequest,
	ChatResponse,
	Provider,
	ProviderCredentials,
} from './types';
export { redacted } from './guard';

export function createProvider(
	name: ProviderName,
	creds: ProviderCredentials,
	fetchImpl?: typeof fetch,
): Provider {
	const provider =
		name === 'anthropic'
			? createAnthropicProvider(creds, fetchImpl)
			: name === 'gemini'
				? createGeminiProvider(creds, fetchImpl)
				: createOpenAiProvider(creds, fetchImpl);
	return guarded(provider, credentialSecrets(creds));
}

/**
 * The provider layer's boundary: whatever a call throws leaves it through the one redaction
 * guard (./guard), shared with the batch API.
 */
export function guarded(provider: Provider, secrets: readonly string[]): Provider {
	const guard = secretGuard(secrets);
	return {
		name: provider.name,
		async complete(req, opts) {
			try {
				return await provider.complete(req, opts);
			} catch (error) {
				throw guard.error(error, provider.name, (opts.now ?? Date.now)());
			}
		},
	};
}
