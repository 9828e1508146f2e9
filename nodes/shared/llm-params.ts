import { NodeOperationError, type IExecuteFunctions } from 'n8n-workflow';
import { z } from 'zod';

import { inputPolicy, isItemError, type CallShape } from '../../core/call/input';
import type { ProviderCredentials } from '../../core/call/providers';
import type { RunItem } from '../../core/call/types';
import { parseSchemaParam } from '../../core/schema';
import {
	duplicateRecordIds,
	recordIdError,
	resolveRecordId,
	type DuplicateIds,
	type RecordIdResolution,
} from '../../core/record-id';
import type { ItemError, ProviderName } from '../../core/types';

/**
 * What LLM Batch Call and LLM Batch Job read the same way: the provider credential, the
 * JSON Schema of structured output, and each item's prompt, system prompt and record ID.
 */

/** Each provider's credential type and the name the editor shows for it. */
const CREDENTIAL_TYPE: Record<ProviderName, string> = {
	openai: 'llmBatchOpenAiApi',
	anthropic: 'llmBatchAnthropicApi',
	gemini: 'llmBatchGeminiApi',
};
const CREDENTIAL_NAME: Record<ProviderName, string> = {
	openai: 'LLM Batch: OpenAI-Compatible API',
	anthropic: 'LLM Batch: Anthropic API',
	gemini: 'LLM Batch: Google Gemini API',
};

/** The grouping and caching options both LLM nodes declare (shared/descriptions.ts), checked alike. */
export const groupingOptionFields = {
	recordsPerRequest: z
		.number()
		.int('Records per Request must be a whole number')
		.min(1, 'Records per Request must be at least 1')
		.max(100, 'Records per Request can be at most 100'),
	maxRecordTokensPerRequest: z.number().int().min(0),
	promptCaching: z.enum(['5m', '1h', 'off']),
};

/** The API key and base URL of the provider's credential; a NodeOperationError before any call when missing. */
export async function providerCredentials(
	ctx: IExecuteFunctions,
	provider: ProviderName,
	/** LLM Batch Call's fallback models have their own credential (LLM Batch: Fallback Model API). */
	credentialType?: 'llmBatchFallbackApi',
): Promise<ProviderCredentials> {
	const type = credentialType ?? CREDENTIAL_TYPE[provider];
	let c;
	try {
		c = await ctx.getCredentials(type);
	} catch (e) {
		throw new NodeOperationError(ctx.getNode(), `No credential set: ${(e as Error).message}`, {
			description: `Select or create a "${credentialType === 'llmBatchFallbackApi' ? 'LLM Batch: Fallback Model API' : CREDENTIAL_NAME[provider]}" credential; nothing was sent.`,
		});
	}
	const apiKey = typeof c.apiKey === 'string' ? c.apiKey : '';
	if (apiKey === '') {
		throw new NodeOperationError(ctx.getNode(), 'The credential has no API key', {
			description:
				'Enter any non-empty key for servers without authentication (Ollama, LM Studio, the sandbox).',
		});
	}
	return {
		apiKey,
		baseUrl:
			typeof c.baseUrl === 'string' && c.baseUrl !== '' ? c.baseUrl.replace(/\/+$/, '') : undefined,
		organization:
			typeof c.organization === 'string' && c.organization !== '' ? c.organization : undefined,
	};
}

/** The JSON Schema parameter (output format JSON), checked before any call. */
export function readJsonSchemaParam(
	ctx: IExecuteFunctions,
	provider: ProviderName,
): Record<string, unknown> {
	const node = ctx.getNode();
	const schema = parseSchemaParam(ctx.getNodeParameter('jsonSchema', 0, '{}') as string | object);
	if (!schema.ok) {
		throw new NodeOperationError(node, `JSON Schema is not valid: ${schema.message}`, {
			description: 'Fix the JSON Schema parameter; nothing was sent.',
		});
	}
	if (provider === 'anthropic' && (schema.schema as { type?: unknown }).type !== 'object') {
		throw new NodeOperationError(
			node,
			'For Anthropic the JSON Schema must describe an object ("type": "object")',
			{
				description:
					'Anthropic structured output uses a tool whose input must be an object; wrap a list in a property.',
			},
		);
	}
	return schema.schema as Record<string, unknown>;
}

/**
 * Reads each item's Prompt, System Prompt and Record ID parameters through the engine's
 * input policy; bad input fails that item (named field, the fix), never the node. A Record ID
 * that throws or resolves to something that is no ID fails its item too (core/record-id.ts);
 * `duplicates` names the IDs more than one item carries.
 */
export function readPromptItems(
	ctx: IExecuteFunctions,
	shape: CallShape,
	/** Keep each item's resolved parameters (LLM Batch Call's fallback models re-read them). */
	opts: { keepRaw?: boolean } = {},
): PromptItems {
	const read = promptItemReader(ctx, shape, opts);
	const count = ctx.getInputData().length;
	for (let i = 0; i < count; i++) read.item(i);
	return read.done();
}

/**
 * The same, handing the event loop back between slices of items: each item's prompt is
 * measured and hashed, which for 1,900 prompts of 100 KB is seconds of work that would
 * otherwise block every other execution of the instance.
 */
export async function readPromptItemsYielding(
	ctx: IExecuteFunctions,
	shape: CallShape,
	opts: { keepRaw?: boolean } = {},
): Promise<PromptItems> {
	const read = promptItemReader(ctx, shape, opts);
	const count = ctx.getInputData().length;
	let since = performance.now();
	for (let i = 0; i < count; i++) {
		read.item(i);
		if (performance.now() - since >= SLICE_MS) {
			await new Promise<void>((resolve) => setImmediate(resolve));
			since = performance.now();
		}
	}
	return read.done();
}

/** Longest stretch of item reading between two turns of the event loop. */
const SLICE_MS = 20;

export interface PromptItems {
	runItems: RunItem[];
	rejected: Map<number, ItemError>;
	raws: Array<RawPromptInput | undefined>;
	duplicates: DuplicateIds | undefined;
	/** Items whose Record ID expression resolved to nothing (IDs made from the prompt). */
	unnamed: number;
}

/** Reads one item at a time (`item`), then the whole (`done`). */
function promptItemReader(
	ctx: IExecuteFunctions,
	shape: CallShape,
	opts: { keepRaw?: boolean },
): { item(i: number): void; done(): PromptItems } {
	const toRunItem = inputPolicy(shape);
	const runItems: RunItem[] = [];
	const rejected = new Map<number, ItemError>();
	const raws: Array<RawPromptInput | undefined> = [];
	const given: string[] = [];
	let unnamed = 0;
	const expression = isExpression(ctx.getNode().parameters?.recordId);
	return {
		item(i) {
			let out: RunItem | ItemError;
			const recordId = readRecordIdParam(ctx, i, expression);
			if (!recordId.ok) {
				rejected.set(i, recordIdError(recordId.problem));
				return;
			}
			try {
				const raw: RawPromptInput = {
					prompt: ctx.getNodeParameter('prompt', i, ''),
					system: ctx.getNodeParameter('systemPrompt', i, ''),
					recordId: recordId.id ?? '',
				};
				if (opts.keepRaw) raws[i] = raw;
				out = toRunItem(i, raw);
			} catch (e) {
				out = {
					code: 'invalid_input',
					message: `Prompt could not be resolved for this item: ${(e as Error).message}`,
					retryable: false,
					attempts: 0,
				};
			}
			if (isItemError(out)) rejected.set(i, out);
			else {
				runItems.push(out);
				if (recordId.id !== undefined) given.push(recordId.id);
				else if (expression) unnamed++;
			}
		},
		done: () => ({ runItems, rejected, raws, duplicates: duplicateRecordIds(given), unnamed }),
	};
}

function isExpression(parameter: unknown): boolean {
	return typeof parameter === 'string' && parameter.startsWith('=');
}

/** One item's Record ID parameter, resolved by the one rule (core/record-id.ts). */
function readRecordIdParam(
	ctx: IExecuteFunctions,
	itemIndex: number,
	expression: boolean,
): RecordIdResolution {
	let value: unknown;
	try {
		value = ctx.getNodeParameter('recordId', itemIndex, '');
	} catch (thrown) {
		return resolveRecordId({ thrown: thrown ?? 'error', expression });
	}
	return resolveRecordId({ value, expression });
}

/** One item's Prompt, System Prompt and Record ID as resolved. */
export type RawPromptInput = { prompt: unknown; system: unknown; recordId: unknown };
