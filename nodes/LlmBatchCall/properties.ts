import type { INodeProperties } from 'n8n-workflow';

import {
	DEFAULT_CONCURRENCY,
	DEFAULT_MAX_ATTEMPTS,
	DEFAULT_REQUESTS_PER_MINUTE,
	DEFAULT_TOKENS_PER_MINUTE,
} from '../../core/defaults';
import {
	contextWindowOption,
	jsonSchemaProperty,
	ledgerSqlitePathProperty,
	ledgerStoreChoices,
	maxRecordTokensPerRequestOption,
	maxTokensOption,
	modelProperty,
	outputFormatProperty,
	promptCachingOption,
	promptProperty,
	recordIdProperty,
	recordsPerRequestOption,
	resultFieldProperty,
	systemPromptProperty,
	temperatureOption,
} from '../shared/descriptions';
import {
	flexDeadlineOption,
	flexTimeoutOption,
	modelPriceTierField,
	serviceTierOption,
} from './serviceTier';

/**
 * The parameters of LLM Batch Call, in the order the editor shows them. The one declaration of
 * each parameter's default: params.ts falls back to the same values (`defaultsOf`).
 */
export const properties: INodeProperties[] = [
	{
		displayName: 'Provider',
		name: 'provider',
		type: 'options',
		noDataExpression: true,
		options: [
			{
				name: 'OpenAI or Compatible (Ollama, vLLM, LM Studio)',
				value: 'openai',
				description: 'Chat completions API at the credential base URL',
			},
			{ name: 'Anthropic', value: 'anthropic', description: 'Messages API' },
			{ name: 'Google Gemini', value: 'gemini', description: 'Gemini API (generateContent)' },
		],
		default: 'openai',
	},
	modelProperty,
	systemPromptProperty,
	promptProperty,
	recordIdProperty(
		'Stable ID of each record, used in results, reports and the ledger. When empty, or when the expression finds no such field, a hash of the prompt is used. An expression that fails or gives null, an empty text, an object or a list fails its item (invalid_input); duplicate IDs are named in the hint.',
	),
	outputFormatProperty,
	jsonSchemaProperty(
		'JSON Schema of the answer. OpenAI-compatible: sent as response_format json_schema; Anthropic: a forced tool; Google Gemini: responseJsonSchema. Answers are validated against it.',
	),
	{
		displayName: 'Concurrency',
		name: 'concurrency',
		type: 'number',
		typeOptions: { minValue: 1 },
		default: DEFAULT_CONCURRENCY,
		description: 'Maximum requests in flight at once',
	},
	{
		displayName: 'Requests per Minute',
		name: 'requestsPerMinute',
		type: 'number',
		typeOptions: { minValue: 1 },
		default: DEFAULT_REQUESTS_PER_MINUTE,
		description:
			"Your provider's request limit for this model. Shared by every execution using the same credential and model in this n8n process.",
	},
	{
		displayName: 'Tokens per Minute',
		name: 'tokensPerMinute',
		type: 'number',
		typeOptions: { minValue: 1 },
		default: DEFAULT_TOKENS_PER_MINUTE,
		description:
			"Your provider's token limit (input estimate + max tokens count per request, as OpenAI counts)",
	},
	{
		displayName: 'Share Limits Through',
		name: 'shareLimitsThrough',
		type: 'options',
		noDataExpression: true,
		options: [
			{
				name: 'This Process Only',
				value: 'process',
				description: 'Executions in this process share the limit; other processes do not see it',
			},
			{
				name: 'Redis (All Processes and Queue-Mode Workers)',
				value: 'redis',
				description:
					'Every n8n process using the same credential, base URL and model shares one budget',
			},
		],
		default: 'process',
		description:
			'Where the request and token budgets live. With several n8n processes (queue mode, several mains) choose Redis, or each process sends at the full rate.',
	},
	{
		displayName: 'If Redis Is Unreachable',
		name: 'redisUnavailable',
		type: 'options',
		noDataExpression: true,
		displayOptions: { show: { shareLimitsThrough: ['redis'] } },
		options: [
			{
				name: 'Continue at a Share of the Limit',
				value: 'fallback',
				description:
					'This process runs on its own limiter at the share below until Redis answers again; a warning goes to the log and the output hint',
			},
			{
				name: 'Stop the Run',
				value: 'stop',
				description:
					'Nothing more is sent; answers in flight are kept, unsent items fail with a message naming Redis',
			},
		],
		default: 'fallback',
	},
	{
		displayName: 'Fallback Share of the Limit (%)',
		name: 'redisFallbackShare',
		type: 'number',
		typeOptions: { minValue: 1, maxValue: 100 },
		displayOptions: { show: { shareLimitsThrough: ['redis'], redisUnavailable: ['fallback'] } },
		default: 25,
		description:
			'While Redis is unreachable each process sends at most this share of the limits. 100 ÷ the number of n8n processes (workers) keeps the total within the limit.',
	},
	resultFieldProperty(
		'Field each successful item gains (output, text, usage, cost, attempts, latency)',
	),
	{
		displayName: 'Fallback Provider',
		name: 'fallbackProvider',
		type: 'options',
		noDataExpression: true,
		options: [
			{ name: 'None', value: 'none' },
			{ name: 'OpenAI or Compatible', value: 'openai' },
			{ name: 'Anthropic', value: 'anthropic' },
			{ name: 'Google Gemini', value: 'gemini' },
		],
		default: 'none',
		description:
			'Which API the fallback models speak (with their own credential, "LLM Batch: Fallback Model API"). An item goes to the next model when the one before ends it with a retryable failure after its attempts, is overloaded (529/503), or its prompt is over the context window of the model before; a stop of the whole run (cost cap, Stop When Failures Exceed, ledger or Redis unavailable) is not handed on.',
	},
	{
		displayName: 'Fallback Models',
		name: 'fallbackModels',
		type: 'string',
		displayOptions: { hide: { fallbackProvider: ['none'] } },
		default: '',
		placeholder: 'e.g. claude-haiku-4-5, claude-sonnet-4-5',
		description:
			'Model IDs tried in this order, comma-separated; each keeps its own rate limiter (same limits as above). The result records which model answered.',
	},
	{
		displayName: 'Options',
		name: 'options',
		type: 'collection',
		placeholder: 'Add Option',
		default: {},
		options: [
			{
				displayName: 'Circuit Breaker Action',
				name: 'onCircuitOpen',
				type: 'options',
				options: [
					{ name: 'Pause Then Resume', value: 'pause' },
					{ name: 'Stop the Run', value: 'stop' },
				],
				default: 'pause',
				description:
					'What happens when the provider fails most requests (an outage): wait for it with half-open probes, or stop at once',
			},
			{
				displayName: 'Circuit Breaker Threshold (%)',
				name: 'circuitThreshold',
				type: 'number',
				typeOptions: { minValue: 1, maxValue: 100 },
				default: 50,
				description:
					'Share of provider failures (5xx, timeouts, connection errors; not 429s or bad answers) among at least 20 recent requests that opens the circuit',
			},
			contextWindowOption,
			{
				displayName: 'Cost Cap Applies To',
				name: 'budgetScope',
				type: 'options',
				options: [
					{
						name: 'Each Run',
						value: 'run',
						description: 'Max Cost per Run counts this execution only',
					},
					{
						name: 'The Ledger Job (All Executions)',
						value: 'job',
						description:
							'Max Cost per Run counts what the ledger job spent in every execution, earlier ones and those running at once (reserved in the ledger), so a nightly job split into chunks stops at its budget',
					},
				],
				default: 'run',
			},
			{
				displayName: 'Fix Invalid Answers By',
				name: 'fixInvalidBy',
				type: 'options',
				options: [
					{
						name: 'Cheapest (Measured)',
						value: 'cheapest',
						description:
							'Per answer: a re-ask or a fresh call, whichever costs less per answer it makes valid, from the prompt length and what this run has measured. A re-ask wins with long prompts and at Temperature 0; a fresh call with short prompts at higher temperatures.',
					},
					{
						name: 'Re-Ask With the Errors',
						value: 'reask',
						description:
							'Send the bad answer (minified) and one short line per problem back as a follow-up turn, "reply with the corrected JSON only". Costs the prompt again plus the answer and the errors; nearly always fixes it.',
					},
					{
						name: 'Fresh Call',
						value: 'fresh',
						description:
							'Send the prompt again as a new call. Costs the prompt again; at Temperature 0 it mostly gets the same wrong answer back.',
					},
				],
				default: 'cheapest',
				description:
					"How an answer that is not valid JSON or fails the schema is fixed (up to Max Re-Asks calls). Every fix call is paid and added to the item's cost and attempts.",
			},
			flexDeadlineOption,
			flexTimeoutOption,
			{
				displayName: 'Input Price per 1M Tokens (USD)',
				name: 'inputPricePer1M',
				type: 'number',
				typeOptions: { numberPrecision: 4 },
				default: -1,
				description:
					"The primary model's price, for a model missing from the built-in price table (e.g. 0 for a local model); fallback models keep their own price (see Model Prices). -1 = use the table.",
			},
			{
				displayName: 'Max Attempts',
				name: 'maxAttempts',
				type: 'number',
				typeOptions: { minValue: 1, maxValue: 20 },
				default: DEFAULT_MAX_ATTEMPTS,
				description: 'Attempts per item for transient errors (rate-limit waits do not count)',
			},
			{
				displayName: 'Max Cost per Run (USD)',
				name: 'maxCostUsd',
				type: 'number',
				typeOptions: { numberPrecision: 4 },
				default: 0,
				description:
					'Stop spending when the run has cost this much, counting every model of the chain; each request reserves its most (prompt + Max Tokens) before it is sent, and one that no longer fits fails with budget_exceeded, as do the items after it. 0 = no cap.',
			},
			{
				displayName: 'Max Re-Asks',
				name: 'maxReasks',
				type: 'number',
				typeOptions: { minValue: 0, maxValue: 5 },
				default: 1,
				description:
					'How many calls may fix an answer that is not valid JSON or fails the schema (as Fix Invalid Answers By says); then the item fails with the answer kept on its error. 0 = never.',
			},
			maxRecordTokensPerRequestOption,
			{
				displayName: 'Max Retry-After (Seconds)',
				name: 'maxRetryAfterSeconds',
				type: 'number',
				typeOptions: { minValue: 0 },
				default: 60,
				description:
					'Longest Retry-After a 429 is waited out for; an item asked to wait longer fails with rate_limited, naming the wait',
			},
			maxTokensOption,
			{
				displayName: 'Model Prices',
				name: 'modelPrices',
				type: 'fixedCollection',
				typeOptions: { multipleValues: true },
				placeholder: 'Add Model Price',
				default: {},
				description:
					'Prices of models missing from the built-in price table, e.g. a local fallback model (0 for free). Each price applies to the model it names only. With a cost cap, every model of the chain needs a price.',
				options: [
					{
						name: 'price',
						displayName: 'Price',
						values: [
							{
								displayName: 'Model',
								name: 'model',
								type: 'string',
								default: '',
								placeholder: 'e.g. llama3.1-local',
							},
							{
								displayName: 'Input Price per 1M Tokens (USD)',
								name: 'inputPricePer1M',
								type: 'number',
								typeOptions: { minValue: 0, numberPrecision: 4 },
								default: 0,
							},
							{
								displayName: 'Output Price per 1M Tokens (USD)',
								name: 'outputPricePer1M',
								type: 'number',
								typeOptions: { minValue: 0, numberPrecision: 4 },
								default: 0,
							},
							modelPriceTierField,
						],
					},
				],
			},
			{
				displayName: 'Outage Time Before Stopping (Minutes)',
				name: 'outageMinutes',
				type: 'number',
				typeOptions: { minValue: 0 },
				default: 10,
				description:
					'How long the run waits for a provider outage to end (the circuit stays open) before the remaining items fail with circuit_open',
			},
			{
				displayName: 'Output Fields',
				name: 'outputFields',
				type: 'options',
				options: [
					{
						name: 'Input Fields + Result',
						value: 'all',
						description: 'Each Success item keeps its input fields and gains the result field',
					},
					{
						name: 'Record ID + Result Only',
						value: 'result',
						description:
							'Success items carry only recordId and the result field: small run data for big jobs (Failed items keep their input, for a retry)',
					},
				],
				default: 'all',
			},
			{
				displayName: 'Output Price per 1M Tokens (USD)',
				name: 'outputPricePer1M',
				type: 'number',
				typeOptions: { numberPrecision: 4 },
				default: -1,
				description:
					"The primary model's price, for a model missing from the built-in price table. -1 = use the table.",
			},
			{
				displayName: 'Progress Log Interval (Seconds)',
				name: 'progressIntervalSeconds',
				type: 'number',
				typeOptions: { minValue: 0 },
				default: 10,
				description: 'How often a progress line goes to the n8n server log. 0 = never.',
			},
			promptCachingOption({
				oneHour:
					'Anthropic 1-hour TTL: writes cost 2x instead of 1.25x, for runs with gaps over 5 minutes',
				description:
					'Anthropic: cache_control on the system prompt (min 1,024-4,096 tokens by model) and one warm-up request before the fan-out. OpenAI: prompt_cache_key; cached input is read from usage and priced lower.',
			}),
			recordsPerRequestOption(
				'Send up to this many records in one request, the system prompt once; answers come back as JSON keyed by record ID and are split into one result per item. Any record not answered beyond doubt is sent again alone.',
			),
			{
				displayName: 'Request Timeout (Seconds)',
				name: 'timeoutSeconds',
				type: 'number',
				typeOptions: { minValue: 1 },
				default: 60,
			},
			{
				displayName: 'Response Cache',
				name: 'responseCache',
				type: 'options',
				options: [
					{ name: 'Off', value: 'off' },
					{
						name: 'This Job',
						value: 'job',
						description: 'Reuse an answer for the same call under another record ID of this job',
					},
					{
						name: 'All Jobs',
						value: 'allJobs',
						description:
							'Also reuse answers stored by other jobs with the same provider, base URL and credential',
					},
				],
				default: 'off',
				description:
					'Needs the ledger. Reuses a stored answer for an identical call (same provider, base URL, credential, model, prompt, schema and settings) instead of paying again. Off by default: at a temperature above 0 each call is a fresh sample.',
			},
			serviceTierOption,
			// Stop When Failures Exceed: a run whose prompt broke stops paying for failures.
			{
				displayName: 'Stop When Failures Exceed (%)',
				name: 'stopFailurePercent',
				type: 'number',
				typeOptions: { minValue: 0, maxValue: 100 },
				default: 50,
				description:
					'Stop sending when more than this share of the last answered items (the window below) failed for a reason a retry does not fix (invalid_request, schema_violation, malformed_output, content_filter): answers already paid are kept, the rest fail with stopped_failure_rate and the message names the code that dominated. On by default with a wide window: a sample run (Sample Size in Batch Prepare, 20 by default) never fills it, so the sample gate still sees every failure, while a full run whose prompt breaks stops instead of paying for every item. 0 = never.',
			},
			{
				displayName: 'Stop When Failures Exceed: Window (Items)',
				name: 'stopFailureWindow',
				type: 'number',
				typeOptions: { minValue: 1 },
				default: 100,
				description:
					'How many of the last answered items the share is taken over; nothing stops before this many items were answered',
			},
			temperatureOption,
		],
	},
	{
		displayName: 'Ledger',
		name: 'ledgerStore',
		type: 'options',
		noDataExpression: true,
		options: [{ name: 'Off', value: 'none' }, ...ledgerStoreChoices],
		default: 'none',
		description:
			'Durable per-record store: each result is saved as it arrives, and a rerun skips records that already succeeded with the same prompt, model and schema',
	},
	{
		displayName: 'Job Name',
		name: 'ledgerJob',
		type: 'string',
		required: true,
		displayOptions: { show: { ledgerStore: ['sqlite', 'postgres'] } },
		default: '',
		placeholder: 'e.g. ticket-classification',
		description: 'Names the job in the ledger; the same name on the next run resumes it',
	},
	ledgerSqlitePathProperty,
];
