import type {
	IDataObject,
	IExecuteFunctions,
	INodeExecutionData,
	INodeProperties,
} from 'n8n-workflow';

import {
	DEFAULT_MAX_SUBMISSIONS,
	MAX_KEPT_FILE_BYTES,
	PROVIDER_CAPS,
	markBatchPromptCache,
	shareItemText,
	submitRecords,
	summarizeSkipped,
	type PreparedRecord,
	type RecordBinary,
	type SubmitResult,
} from '../../../core/batch-api';
import { describeNotReused } from '../../../core/identity';
import { describeDuplicateIds, describeUnnamed, type DuplicateIds } from '../../../core/record-id';
import type { ItemError, ProviderName } from '../../../core/types';
import { readAllAttachments } from '../../shared/attachments';
import {
	attachmentsOption,
	contextWindowOption,
	jsonSchemaProperty,
	maxRecordTokensPerRequestOption,
	maxTokensOption,
	modelProperty,
	outputFormatProperty,
	promptCachingOption,
	promptProperty,
	recordIdProperty,
	recordsPerRequestOption,
	systemPromptProperty,
	temperatureOption,
} from '../../shared/descriptions';
import { readJsonSchemaParam, readPromptItemsYielding } from '../../shared/llm-params';
import { outputOf } from '../../shared/items';
import { readSubmitConfig } from '../params';
import { openJob, type JobDeps } from './context';
import { batchItem } from './items';

/** Shown for Submit only (together with what the parameter itself shows for). */
const onSubmit = (p: INodeProperties): INodeProperties => ({
	...p,
	displayOptions: { show: { operation: ['submit'], ...p.displayOptions?.show } },
});

const properties: INodeProperties[] = [
	{ ...modelProperty, placeholder: 'e.g. gpt-4o-mini, claude-3-5-haiku-latest' },
	systemPromptProperty,
	promptProperty,
	recordIdProperty(
		"Stable ID of each record: results are matched to records by it (the batch line's custom_id is derived from it), and a record already in a live batch or done is not submitted again. When empty, or when the expression finds no such field, a hash of the prompt is used. An expression that fails or gives null, an empty text, an object or a list fails its item (invalid_input).",
	),
	outputFormatProperty,
	jsonSchemaProperty(
		'JSON Schema of the answer, sent as LLM Batch Call sends it; Collect Results validates every answer against it',
	),
	{
		displayName: 'Options',
		name: 'options',
		type: 'collection',
		placeholder: 'Add Option',
		default: {},
		options: [
			attachmentsOption,
			{
				displayName: 'Batch Size',
				name: 'batchSize',
				type: 'number',
				typeOptions: { minValue: 0 },
				default: 0,
				description:
					"Requests per provider batch. 0 = the provider's cap (OpenAI 50,000 / 200 MB, Anthropic 100,000 / 256 MB).",
			},
			contextWindowOption,
			{
				displayName: 'Keep Files for Collect',
				name: 'keepFiles',
				type: 'boolean',
				default: true,
				description: `Whether to keep each item's binary data (the files it is sent with and its other binary properties) in the ledger, so Collect in a later execution — the scheduled path — gives every record its files back, and Resubmit Failed can send its documents again. Each distinct file is stored once (by content) and removed with Delete Job; a file over ${MAX_KEPT_FILE_BYTES / (1024 * 1024)} MB is not kept, and its item says so. Off: only a Collect in the same execution (Submit → Wait → Collect) has the files.`,
			},
			maxRecordTokensPerRequestOption,
			{
				displayName: 'Max Submissions per Record',
				name: 'maxSubmissions',
				type: 'number',
				typeOptions: { minValue: 1 },
				default: DEFAULT_MAX_SUBMISSIONS,
				description:
					'A record that failed is sent again by a new run only when its failure is retryable (expired, canceled, server error…) and it has been in fewer batches than this — the same rule as Resubmit Failed',
			},
			maxTokensOption,
			promptCachingOption({
				oneHour:
					'Anthropic 1-hour TTL: a batch can take hours, so a 1-hour entry is more likely to be read; writes cost 2x instead of 1.25x',
				description:
					"Anthropic: cache_control on the system prompt in each batch request (min 1,024-4,096 tokens by model). OpenAI: prompt_cache_key; cached input is read from the results' usage. Priced at the cache prices, then the batch discount.",
			}),
			recordsPerRequestOption(
				"Put up to this many records in one batch request, the system prompt once; answers come back as JSON keyed by record ID and Collect splits them into one result per item. A record not answered beyond doubt fails (retryable) with its share of the cost, and the next Submit or Resubmit Failed sends it alone. A request counts once against Batch Size and the provider's caps.",
			),
			temperatureOption,
		],
	},
];

export const description: INodeProperties[] = properties.map(onSubmit);

/**
 * Submit: bad items go to Failed before anything is uploaded; the rest (minus records that
 * are done or in a batch not collected yet) go to the provider in batches at its caps; one
 * item per batch created.
 */
export async function execute(
	ctx: IExecuteFunctions,
	deps: JobDeps = {},
): Promise<INodeExecutionData[][]> {
	const sub = readSubmitConfig(ctx, description);
	const { cfg, job, scope } = await openJob(ctx, deps);
	const schema = sub.outputFormat === 'json' ? readJsonSchemaParam(ctx, cfg.provider) : undefined;
	const read = await readRecords(ctx, sub, cfg.provider, scope, schema);
	const { recordsPerRequest } = sub.options;
	const result = await submitRecords(job, read.records, {
		caps: PROVIDER_CAPS[cfg.provider],
		batchSize: sub.options.batchSize,
		model: sub.model,
		maxSubmissions: sub.options.maxSubmissions,
		keepFiles: sub.options.keepFiles,
		...(recordsPerRequest > 1
			? {
					grouping: {
						recordsPerRequest,
						maxTokensPerRequest: sub.options.maxRecordTokensPerRequest,
						schema,
						contextWindow: sub.options.contextWindow,
					},
				}
			: {}),
	});
	const items = ctx.getInputData();
	const failed = failedItems(items, read.rejected, result.skipped);
	const out: INodeExecutionData[] = result.created.map((b) => ({
		json: batchItem(cfg.jobName, b, { requestCount: b.requestCount, round: b.round }),
		pairedItem: b.indexes.map((item) => ({ item })),
	}));
	const { notes, ...counts } = summarizeSkipped(result.skipped, sub.options.maxSubmissions);
	if (counts.skipped > 0) {
		out.push({
			json: { job: cfg.jobName, batchId: null, ...counts },
			pairedItem: result.skipped
				.filter((s) => s.reason !== 'duplicate')
				.map((s) => ({ item: s.index })),
		});
	}
	const sent = result.created.reduce((n, b) => n + b.requestCount, 0);
	const lines = result.created.reduce((n, b) => n + b.lines, 0);
	if (result.filesNotKept.length > 0)
		ctx.addExecutionHints?.({
			message: describeFilesNotKept(result.filesNotKept),
			type: 'warning',
			location: 'outputPane',
		});
	hintSubmit(ctx, read, result, failed.length > 0, [
		`${result.created.length} batch(es) created with ${sent} request(s) for job ${cfg.jobName}${lines < sent ? ` (${lines} request line(s): ${recordsPerRequest} records per request)` : ''}`,
		...notes,
		`${failed.length} item(s) failed before upload`,
	]);
	return [out, failed];
}

/** The items' records (their files read for the check, their shared prompt marked for caching). */
async function readRecords(
	ctx: IExecuteFunctions,
	sub: ReturnType<typeof readSubmitConfig>,
	provider: ProviderName,
	scope: string,
	schema: Record<string, unknown> | undefined,
) {
	const items = ctx.getInputData();
	const attachments = await readAllAttachments(ctx, sub.options.attachments);
	const read = await readPromptItemsYielding(
		ctx,
		{
			provider,
			scope,
			model: sub.model,
			schema,
			maxTokens: sub.options.maxTokens,
			temperature: sub.options.temperature,
			contextWindow: sub.options.contextWindow,
			cacheTtl: sub.options.promptCaching === 'off' ? undefined : sub.options.promptCaching,
		},
		{ attachments },
	);
	const records: PreparedRecord[] = read.runItems.map((r) => ({
		index: r.index,
		recordId: r.recordId,
		promptHash: r.promptHash,
		request: shareItemText(r.request, items[r.index].json),
		item: items[r.index].json,
		binary: binaryOf(ctx, r.index),
	}));
	markBatchPromptCache(records, {
		provider,
		model: sub.model,
		ttl: sub.options.promptCaching,
		schema,
		recordsPerRequest: sub.options.recordsPerRequest,
	});
	return { ...read, records };
}

/**
 * An item's binary properties for the ledger to keep (core decides what it keeps): their
 * metadata, and their bytes read through n8n, which may hold them in memory, on disk or in S3.
 */
function binaryOf(ctx: IExecuteFunctions, index: number): RecordBinary[] {
	const binary = ctx.getInputData()[index]?.binary ?? {};
	return Object.entries(binary).map(([property, meta]) => ({
		property,
		mimeType: meta.mimeType,
		...(meta.fileName === undefined ? {} : { fileName: meta.fileName }),
		...(meta.fileExtension === undefined ? {} : { fileExtension: meta.fileExtension }),
		...(meta.fileSize === undefined ? {} : { fileSize: meta.fileSize }),
		read: () => ctx.helpers.getBinaryDataBuffer(index, property),
	}));
}

/** The Submit hint for files the ledger did not keep: how many, and the first few with why. */
function describeFilesNotKept(notKept: SubmitResult['filesNotKept']): string {
	const shown = notKept
		.slice(0, 3)
		.map(
			(f) =>
				`record ${f.recordId}, ${f.property}${f.fileName ? ` (${f.fileName})` : ''}: ${f.reason}`,
		);
	const more = notKept.length > shown.length ? `; ${notKept.length - shown.length} more` : '';
	return `${notKept.length} file(s) not kept for Collect (their records come back without them, saying why): ${shown.join('; ')}${more}`;
}

/** Items refused before upload (bad input, a record ID given twice), in input order. */
function failedItems(
	items: INodeExecutionData[],
	rejected: ReadonlyMap<number, ItemError>,
	skipped: SubmitResult['skipped'],
): INodeExecutionData[] {
	const failed: INodeExecutionData[] = [];
	for (const [index, error] of rejected) {
		failed.push(
			outputOf(items, index, { ...items[index].json, error: error as unknown as IDataObject }),
		);
	}
	for (const s of skipped) {
		if (s.reason !== 'duplicate') continue;
		failed.push(
			outputOf(items, s.index, {
				...items[s.index].json,
				error: {
					code: 'duplicate',
					message: `Record ID ${s.recordId} appears more than once in the input: only its first item was submitted. Give every record its own ID (Batch Prepare can dedupe).`,
					retryable: false,
					attempts: 0,
				},
			}),
		);
	}
	return failed.sort(
		(a, b) => (a.pairedItem as { item: number }).item - (b.pairedItem as { item: number }).item,
	);
}

/** The output pane's hints: duplicate and unnamed record IDs, answers not reused, the summary. */
function hintSubmit(
	ctx: IExecuteFunctions,
	read: { duplicates?: DuplicateIds; unnamed: number },
	result: SubmitResult,
	anyFailed: boolean,
	summary: string[],
): void {
	const hint = (message: string, type: 'info' | 'warning') =>
		ctx.addExecutionHints?.({ message, type, location: 'outputPane' });
	if (read.duplicates) hint(describeDuplicateIds(read.duplicates), 'warning');
	if (read.unnamed > 0) hint(describeUnnamed(read.unnamed), 'info');
	const notReused = result.notReused && describeNotReused(result.notReused);
	if (notReused) hint(notReused, 'warning');
	hint(summary.join('; '), anyFailed ? 'warning' : 'info');
}
