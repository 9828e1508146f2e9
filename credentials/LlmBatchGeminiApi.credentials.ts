import type {
	IAuthenticateGeneric,
	Icon,
	ICredentialTestRequest,
	ICredentialType,
	INodeProperties,
} from 'n8n-workflow';

export class LlmBatchGeminiApi implements ICredentialType {
	name = 'llmBatchGeminiApi';

	displayName = 'LLM Batch: Google Gemini API';

	icon: Icon = { light: 'file:llmBatchGemini.svg', dark: 'file:llmBatchGemini.dark.svg' };

	documentationUrl = 'https://ai.google.dev/gemini-api/docs/api-key';

	properties: INodeProperties[] = [
		{
			displayName: 'API Key',
			name: 'apiKey',
			type: 'string',
			typeOptions: { password: true },
			required: true,
			default: '',
			description: 'A Gemini API key from Google AI Studio',
		},
		{
			displayName: 'Base URL',
			name: 'baseUrl',
			type: 'string',
			default: 'https://generativelanguage.googleapis.com',
			description: 'Without /v1beta. Change only for a proxy or the local sandbox.',
		},
	];

	authenticate: IAuthenticateGeneric = {
		type: 'generic',
		properties: {
			headers: { 'x-goog-api-key': '={{$credentials.apiKey}}' },
		},
	};

	test: ICredentialTestRequest = {
		request: {
			baseURL: '={{$credentials.baseUrl.replace(/\\/+$/, "").replace(/\\/v1(beta)?$/, "")}}',
			url: '/v1beta/models',
			method: 'GET',
		},
	};
}
