import type { Icon, ICredentialType, INodeProperties } from 'n8n-workflow';

/**
 * The key of LLM Batch Call's fallback models (Fallback Provider says which API it speaks),
 * so a fallback can run on another provider or another account than the primary model.
 */
export class LlmBatchFallbackApi implements ICredentialType {
	name = 'llmBatchFallbackApi';

	displayName = 'LLM Batch: Fallback Model API';

	icon: Icon = { light: 'file:llmBatchOpenAi.svg', dark: 'file:llmBatchOpenAi.dark.svg' };

	documentationUrl =
		'https://github.com/n8n-nodes-llm-batch/n8n-nodes-llm-batch#fewer-tokens-per-correct-answer';

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
			default: '',
			placeholder:
				'e.g. https://api.openai.com/v1, https://api.anthropic.com or https://generativelanguage.googleapis.com',
			description:
				"Empty = the provider's public API. OpenAI-compatible servers: with /v1; Anthropic: without /v1; Google Gemini: without /v1beta.",
		},
	];
}
