import type {
	ICredentialsDecrypted,
	ICredentialTestFunctions,
	INodeCredentialTestResult,
} from 'n8n-workflow';

import { nodeHttpFetch } from '../../core/call/providers/http-fetch';

/**
 * Tests the `llmBatchFallbackApi` credential by listing models the way each provider does
 * (the credential serves OpenAI-compatible, Anthropic and Gemini fallbacks): OpenAI style
 * (`Authorization: Bearer`, base URL with /v1), then Anthropic style (`x-api-key`, /v1 added),
 * then Gemini style (`x-goog-api-key`, /v1beta added).
 */
export async function llmBatchFallbackConnectionTest(
	this: ICredentialTestFunctions,
	credential: ICredentialsDecrypted,
): Promise<INodeCredentialTestResult> {
	const data = credential.data ?? {};
	const key = typeof data.apiKey === 'string' ? data.apiKey : '';
	const base = typeof data.baseUrl === 'string' ? data.baseUrl.replace(/\/+$/, '') : '';
	const tries: Array<[string, Record<string, string>]> = [
		[`${base || 'https://api.openai.com/v1'}/models`, { authorization: `Bearer ${key}` }],
		[
			`${base || 'https://api.anthropic.com'}/v1/models`,
			{ 'x-api-key': key, 'anthropic-version': '2023-06-01' },
		],
		[
			`${base || 'https://generativelanguage.googleapis.com'}/v1beta/models`,
			{ 'x-goog-api-key': key },
		],
	];
	let last = '';
	for (const [url, headers] of tries) {
		try {
			const res = await nodeHttpFetch(url, {
				method: 'GET',
				headers,
				signal: AbortSignal.timeout(10_000),
			});
			if (res.ok) return { status: 'OK', message: 'Connection tested successfully' };
			last = `HTTP ${res.status}`;
		} catch (e) {
			last = (e as Error).message;
		}
	}
	return { status: 'Error', message: `The key was not accepted (${last})` };
}
