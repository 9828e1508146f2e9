import type { INodeProperties } from 'n8n-workflow';

import { DEFAULT_ERROR_FIELD, DEFAULT_RETRY_FIELD } from '../../core/defaults';
import { ERROR_CODES, RETRYABLE_CODES } from '../../core/types';

const codeOptions = ERROR_CODES.map((code) => ({ name: code, value: code }));

/** The parameters of Route Failures, in the order the editor shows them: the one declaration of their defaults. */
export const properties: INodeProperties[] = [
	{
		displayName:
			'Reads json.error.code and the trip counter json.retry.attempts. On Retry the error moves into json.retry.history and json.retry.waitMs suggests a wait (add a Wait node with {{ $json.retry.waitMs }} ms if the provider needs a pause). Dead Letter and Filtered items keep json.error with error.history.',
		name: 'notice',
		type: 'notice',
		default: '',
	},
	{
		displayName: 'Max Retries',
		name: 'maxRetries',
		type: 'number',
		typeOptions: { minValue: 0 },
		default: 3,
		description: 'Trips through Retry per record; the loop ends because every trip counts',
	},
	{
		displayName: 'Retry Codes',
		name: 'retryCodes',
		type: 'multiOptions',
		options: codeOptions,
		default: [...RETRYABLE_CODES],
		description: 'Error codes sent back through Retry while trips remain',
	},
	{
		displayName: 'Filtered Codes',
		name: 'filteredCodes',
		type: 'multiOptions',
		options: codeOptions,
		default: ['content_filter'],
		description:
			'Error codes sent to Filtered (content-policy refusals); everything else goes to Dead Letter',
	},
	{
		displayName: 'Options',
		name: 'options',
		type: 'collection',
		placeholder: 'Add Option',
		default: {},
		options: [
			{
				displayName: 'Base Wait (Ms)',
				name: 'baseDelayMs',
				type: 'number',
				default: 1000,
				description: 'Suggested wait before the first retry; doubles per trip',
			},
			{ displayName: 'Max Wait (Ms)', name: 'maxDelayMs', type: 'number', default: 60000 },
			{
				displayName: 'Error Field',
				name: 'errorField',
				type: 'string',
				default: DEFAULT_ERROR_FIELD,
			},
			{
				displayName: 'Retry Field',
				name: 'retryField',
				type: 'string',
				default: DEFAULT_RETRY_FIELD,
				description: 'Where the trip counter and history live',
			},
		],
	},
];
