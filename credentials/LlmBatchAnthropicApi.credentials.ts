import type {
	IAuthenticateGeneric,
	Icon,
	ICredentialTestRequest,
	ICredentialType,
	INodeProperties,
} from 'n8n-workflow';

export class LlmBatchAnthropicApi implements ICredentialType {
	name = 'llmBatchAnthropicApi';

	displayName = 'LLM Batch: Anthropic API';

	icon: Icon = { light: 'file:llmBatchAnthropic.svg', dark: 'file:llmBatchAnthropic.dark.svg' };

	documentationUrl = 'https://docs.anthropic.com/en/api/getting-started';

	properties: INodeProperties[] = [
		{
			displayName: 'API Key',
			name: 'apiKey',
			type: 'string',
			typeOptions: { password: true },
			required: true,
			default: '',
		},
		{
			displayName: 'Base URL',
			name: 'baseUrl',
			type: 'string',
			default: 'https://api.anthropic.com',
			description: 'Without /v1. Change only for a proxy or the local sandbox.',
		},
	];

	authenticate: IAuthenticateGeneric = {
		type: 'generic',
		properties: {
			headers: {
				'x-api-key': '={{$credentials.apiKey}}',
				'anthropic-version': '2023-06-01',
			},
		},
	};

	test: ICredentialTestRequest = {
		request: {
			baseURL: '={{$credentials.baseUrl.replace(/\\/+$/, "")}}',
			url: '/v1/models',
			method: 'GET',
		},
	};
}
