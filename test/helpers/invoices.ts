/**
 * Invoice PDFs through LLM Batch Call against the sandbox — the one pipeline the documents test
 * and bench/documents.ts share: n8n items with a PDF in `binary.data` → LLM Batch Call
 * (Attachments: data, the invoice JSON Schema) → Success / Failed, each answer checked against
 * its own invoice; and the package's estimate of those requests' input tokens (the limiter's
 * charge, item by item) to hold against what the sandbox billed.
 */
import type { INodeExecutionData } from 'n8n-workflow';

import { attachFile, type AttachedFile } from '../../core/call/attachments';
import { inputPolicy, isItemError } from '../../core/call/input';
import { executeLlmBatchCall } from '../../nodes/LlmBatchCall/execute';
import type { Sandbox } from '../../sandbox/server';
import { mockExecute } from './mock-execute';
import { INVOICE_SCHEMA, invoicePdf } from './pdf';

export type InvoiceProvider = 'openai' | 'anthropic' | 'gemini';

export const INVOICE_PROMPT = 'Extract the invoice fields.';

/** An item carrying `buf` as its `data` binary property. */
export function binaryItem(
	id: string,
	buf: Buffer,
	fileName: string,
	mimeType = 'application/pdf',
): INodeExecutionData {
	return {
		json: { id },
		binary: { data: { data: buf.toString('base64'), mimeType, fileName } },
	};
}

/** Items `inv-0` … with invoice n's PDF (every other one Flate-compressed), as n8n holds them in memory. */
export function invoiceItems(count: number): INodeExecutionData[] {
	return Array.from({ length: count }, (_, n) =>
		binaryItem(`inv-${n}`, invoicePdf(n, { compress: n % 2 === 1 }).pdf, `inv-${n}.pdf`),
	);
}

/** The three providers' credentials, pointed at the sandbox. */
export function sandboxCredentials(sandbox: Pick<Sandbox, 'url'>) {
	return {
		llmBatchOpenAiApi: { apiKey: 'sk-test', baseUrl: `${sandbox.url}/v1` },
		llmBatchAnthropicApi: { apiKey: 'sk-test', baseUrl: sandbox.url },
		llmBatchGeminiApi: { apiKey: 'gk-test', baseUrl: sandbox.url },
	};
}

/** LLM Batch Call's (and LLM Batch Job's Submit) parameters for extracting invoices from their PDFs. */
export function invoiceParameters(
	provider: InvoiceProvider,
	model: string,
	extra: Record<string, unknown> = {},
) {
	return {
		provider,
		model,
		systemPrompt: '',
		prompt: INVOICE_PROMPT,
		recordId: (_i: number, item: { json: Record<string, unknown> }) => item.json.id,
		outputFormat: 'json',
		jsonSchema: JSON.stringify(INVOICE_SCHEMA),
		concurrency: 16,
		requestsPerMinute: 600_000,
		tokensPerMinute: 1_000_000_000,
		resultField: 'llm',
		ledgerStore: 'none',
		options: { progressIntervalSeconds: 0, attachments: 'data', promptCaching: 'off' },
		...extra,
	};
}

/** LLM Batch Call over `items` against the sandbox: its Success and Failed outputs. */
export async function extractInvoices(
	sandbox: Pick<Sandbox, 'url'>,
	provider: InvoiceProvider,
	model: string,
	items: INodeExecutionData[],
	extra: Record<string, unknown> = {},
): Promise<INodeExecutionData[][]> {
	const m = mockExecute({
		inputs: [items],
		parameters: invoiceParameters(provider, model, extra),
		credentials: sandboxCredentials(sandbox),
	});
	return executeLlmBatchCall(m.fns);
}

/** The invoice number an item of `invoiceItems` carries (`inv-17` → 17). */
export const invoiceIndex = (item: INodeExecutionData) => Number(String(item.json.id).slice(4));

/** Whether a Success item's answer is its own invoice's fields, every one of them. */
export function hasOwnInvoice(item: INodeExecutionData, field = 'llm'): boolean {
	const llm = item.json[field] as { output?: unknown } | undefined;
	return JSON.stringify(llm?.output) === JSON.stringify(invoicePdf(invoiceIndex(item)).invoice);
}

/** The package's estimate of the items' input tokens: the limiter's charge, item by item. */
export function estimateInvoiceTokens(
	provider: InvoiceProvider,
	model: string,
	items: INodeExecutionData[],
): number {
	const policy = inputPolicy({
		provider,
		scope: 's',
		model,
		schema: INVOICE_SCHEMA,
		maxTokens: 1024,
		contextWindow: 0,
	});
	let sum = 0;
	for (const [i, item] of items.entries()) {
		const binary = item.binary!.data;
		const buf = Buffer.from(binary.data, 'base64');
		const file = attachFile(
			{ property: 'data', fileName: binary.fileName, mimeType: binary.mimeType },
			buf,
			async () => buf,
		) as AttachedFile;
		const run = policy(i, {
			prompt: INVOICE_PROMPT,
			system: '',
			recordId: item.json.id,
			attachments: [file],
		});
		if (isItemError(run)) throw new Error(run.message);
		sum += run.inputTokens;
	}
	return sum;
}
