import type { ProviderName } from '../../types';
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
	return name === 'anthropic'
		? createAnthropicProvider(creds, fetchImpl)
		: createOpenAiProvider(creds, fetchImpl);
}
