import type { ProviderCredentials } from '../../call/providers/types';
import type { ProviderName } from '../../types';
import type { BatchApi } from '../types';
import { createAnthropicBatchApi } from './anthropic';
import { createOpenAiBatchApi } from './openai';

export function createBatchApi(
	provider: ProviderName,
	creds: ProviderCredentials,
	fetchImpl?: typeof fetch,
): BatchApi {
	return provider === 'anthropic'
		? createAnthropicBatchApi(creds, fetchImpl)
		: createOpenAiBatchApi(creds, fetchImpl);
}
