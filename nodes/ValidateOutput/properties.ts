import type { INodeProperties } from 'n8n-workflow';

import { DEFAULT_VALIDATION_FIELD } from '../../core/defaults';

/** The parameters of Validate Output, in the order the editor shows them: the one declaration of their defaults. */
export const properties: INodeProperties[] = [
	{
		displayName: 'Field',
		name: 'field',
		type: 'string',
		default: 'llm.output',
		description:
			'The answer to check: parsed JSON, or text that holds JSON. Default: the result of LLM Batch Call. Dots for nested fields.',
	},
	{
		displayName: 'Text Field (Fallback)',
		name: 'textField',
		type: 'string',
		default: 'llm.text',
		description: 'Parsed when Field is empty, e.g. the raw model text; leave empty to turn off',
	},
	{
		displayName: 'JSON Schema',
		name: 'jsonSchema',
		type: 'json',
		default: '',
		description:
			'Optional; every issue is listed with its path on Invalid items (ajv, formats such as email and date included). Empty: only check that the answer is JSON.',
	},
	{
		displayName: 'Confidence Rule',
		name: 'useConfidence',
		type: 'boolean',
		default: false,
		description: 'Whether to send answers below a confidence threshold to Review',
	},
	{
		displayName: 'Confidence Path',
		name: 'confidencePath',
		type: 'string',
		displayOptions: { show: { useConfidence: [true] } },
		default: 'confidence',
		description: 'Path inside the parsed answer, e.g. confidence or meta.score',
	},
	{
		displayName: 'Threshold',
		name: 'confidenceThreshold',
		type: 'number',
		typeOptions: { numberPrecision: 2 },
		displayOptions: { show: { useConfidence: [true] } },
		default: 0.7,
		description: 'Answers with a lower confidence go to Review',
	},
	{
		displayName: 'When Confidence Is Missing',
		name: 'whenConfidenceMissing',
		type: 'options',
		displayOptions: { show: { useConfidence: [true] } },
		options: [
			{ name: 'Review', value: 'review' },
			{ name: 'Valid', value: 'valid' },
		],
		default: 'review',
	},
	{
		displayName: 'Options',
		name: 'options',
		type: 'collection',
		placeholder: 'Add Option',
		default: {},
		options: [
			{
				displayName: 'Attempts Field',
				name: 'attemptsField',
				type: 'string',
				default: 'llm.attempts',
				description: 'Read into error.attempts on Invalid items',
			},
			{
				displayName: 'Parsed Value Field',
				name: 'parsedField',
				type: 'string',
				default: '',
				description: 'Where the parsed answer is written; empty: back into Field',
			},
			{
				displayName: 'Record ID Field',
				name: 'recordIdField',
				type: 'string',
				default: 'llm.recordId',
				description:
					'Where the spot check reads the record ID; an item without one is picked by its answer',
			},
			{
				displayName: 'Spot Check %',
				name: 'spotCheckPercent',
				type: 'number',
				typeOptions: { minValue: 0, maxValue: 100, numberPrecision: 2 },
				default: 0,
				description:
					'Share of valid answers also sent to Review (validation.reason "spot_check"), so a person samples quality on every run. The pick follows the record ID: the same record is picked, or not, on every run. 0 = none.',
			},
			{
				displayName: 'Spot Check Seed',
				name: 'spotCheckSeed',
				type: 'string',
				default: '',
				description:
					'Another seed picks another sample of the same share; the same seed, the same records',
			},
			{
				displayName: 'Validation Field',
				name: 'validationField',
				type: 'string',
				default: DEFAULT_VALIDATION_FIELD,
				description: 'Where {status, issues, confidence} is written',
			},
		],
	},
];
