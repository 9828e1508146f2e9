import type { INodeProperties } from 'n8n-workflow';

/*
 * LLM Batch Call's OpenAI processing-tier options (Options collection), kept apart so the
 * tier's parameters read as one block: the tier, the deadline that ends flex, flex's timeout,
 * and the tier a Model Prices entry prices.
 */

export const serviceTierOption: INodeProperties = {
	displayName: 'Service Tier',
	name: 'serviceTier',
	type: 'options',
	options: [
		{
			name: 'Auto (Not Sent)',
			value: 'auto',
			description:
				"The project's setting decides; nothing is sent (what compatible servers expect)",
		},
		{ name: 'Default', value: 'default', description: 'Standard processing at the standard price' },
		{
			name: 'Flex',
			value: 'flex',
			description:
				'Batch prices on the realtime API for the models that offer it (gpt-5 family, o3, o4-mini): slower, and OpenAI may answer 429 Resource Unavailable (not billed), which is waited out, not failed',
		},
		{
			name: 'Priority',
			value: 'priority',
			description: 'Faster processing at the priority price',
		},
	],
	default: 'auto',
	description:
		"OpenAI's service_tier for every OpenAI model of the chain (ignored for Anthropic). Each answer is priced at the tier it reports, and its result says which tier answered (serviceTier).",
};

export const flexDeadlineOption: INodeProperties = {
	displayName: 'Flex Deadline (Minutes)',
	name: 'flexDeadlineMinutes',
	type: 'number',
	typeOptions: { minValue: 0 },
	default: 0,
	description:
		'With Service Tier Flex: minutes from the start of the run after which what is left (items not sent yet, items waiting out Resource Unavailable) goes out at the Default tier, so the run finishes in time. 0 = no deadline (an item fails resource_unavailable after 30 waits).',
};

export const flexTimeoutOption: INodeProperties = {
	displayName: 'Flex Request Timeout (Seconds)',
	name: 'flexTimeoutSeconds',
	type: 'number',
	typeOptions: { minValue: 1 },
	// FLEX_TIMEOUT_MS in seconds (the editor needs a literal; a test keeps them equal).
	default: 900,
	description:
		'Timeout of a flex request (OpenAI advises up to 15 minutes: flex is slower). Requests at any other tier, and flex items moved to Default by the deadline, use Request Timeout.',
};

/** A Model Prices entry's tier: the standard price, or the model's flex or priority price. */
export const modelPriceTierField: INodeProperties = {
	displayName: 'Service Tier',
	name: 'serviceTier',
	type: 'options',
	options: [
		{ name: 'Default', value: 'default' },
		{ name: 'Flex', value: 'flex' },
		{ name: 'Priority', value: 'priority' },
	],
	default: 'default',
	description:
		'The tier this price is for: a model answered at Flex or Priority is priced by its entry for that tier, never by its Default price',
};
