import type { INodeExecutionData } from 'n8n-workflow';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import { resetSharedFlow } from '../../core/call/limiter/in-process';
import { executeLlmBatchCall } from '../../nodes/LlmBatchCall/execute';
import { startSandbox, type Sandbox } from '../../sandbox/server';
import { mockExecute } from '../helpers/mock-execute';
import { INVOICE_SCHEMA, invoicePdf, makePng } from '../helpers/pdf';
import { inputPolicy, isItemError } from '../../core/call/input';
import { attachFile, type AttachedFile } from '../../core/call/attachments';

const N = 12;
const PROMPT = 'Extract the invoice fields.';

function items(): INodeExecutionData[] {
	return Array.from({ length: N }, (_, n) => {
		const { pdf } = invoicePdf(n, { compress: n % 2 === 1 });
		return {
			json: { id: `inv-${n}` },
			binary: {
				data: {
					data: pdf.toString('base64'),
					mimeType: 'application/pdf',
					fileName: `inv-${n}.pdf`,
				},
			},
		};
	});
}

describe('the sandbox reads documents', () => {
	let sandbox: Sandbox;
	beforeAll(async () => {
		sandbox = await startSandbox({ seed: 7 });
	});
	afterAll(async () => sandbox?.close());
	beforeEach(() => {
		sandbox.reset();
		resetSharedFlow();
	});

	const MODELS = {
		openai: 'gpt-4o-mini',
		anthropic: 'claude-3-5-haiku-latest',
		gemini: 'gemini-2.5-flash',
	} as const;
	for (const provider of ['openai', 'anthropic', 'gemini'] as const) {
		it(`${provider}: every invoice answered with its own fields; estimate within ±15 % of billed`, async () => {
			const model = MODELS[provider];
			const credentials = {
				llmBatchOpenAiApi: { apiKey: 'sk-test', baseUrl: `${sandbox.url}/v1` },
				llmBatchAnthropicApi: { apiKey: 'sk-test', baseUrl: sandbox.url },
				llmBatchGeminiApi: { apiKey: 'gk-test', baseUrl: sandbox.url },
			};
			const input = items();
			const m = mockExecute({
				inputs: [input],
				credentials,
				parameters: {
					provider,
					model,
					systemPrompt: '',
					prompt: PROMPT,
					recordId: (_i: number, item: { json: Record<string, unknown> }) => item.json.id,
					outputFormat: 'json',
					jsonSchema: JSON.stringify(INVOICE_SCHEMA),
					concurrency: 4,
					requestsPerMinute: 60_000,
					tokensPerMinute: 100_000_000,
					resultField: 'llm',
					ledgerStore: 'none',
					options: { progressIntervalSeconds: 0, attachments: 'data', promptCaching: 'off' },
				},
			});
			const [success, failed] = await executeLlmBatchCall(m.fns);
			expect(failed).toEqual([]);
			expect(success).toHaveLength(N);
			for (const item of success) {
				const n = Number(String(item.json.id).slice(4));
				expect((item.pairedItem as { item: number }).item).toBe(n);
				const { invoice } = invoicePdf(n);
				expect((item.json.llm as { output: unknown }).output).toEqual({
					...invoice,
					lineItems: invoice.lineItems,
				});
			}
			// The estimate the limiter charged, item by item, against what the sandbox billed.
			const policy = inputPolicy({
				provider,
				scope: 's',
				model,
				schema: INVOICE_SCHEMA,
				maxTokens: 1024,
				contextWindow: 0,
			});
			let estimated = 0;
			for (const [i, it] of input.entries()) {
				const buf = Buffer.from(it.binary!.data.data, 'base64');
				const file = attachFile(
					{ property: 'data', fileName: 'x.pdf' },
					buf,
					async () => buf,
				) as AttachedFile;
				const run = policy(i, {
					prompt: PROMPT,
					system: '',
					recordId: `inv-${i}`,
					attachments: [file],
				});
				if (isItemError(run)) throw new Error(run.message);
				estimated += run.inputTokens;
			}
			const billed = sandbox.stats().inputTokens;
			expect(Math.abs(estimated / billed - 1)).toBeLessThan(0.15);
		});
	}

	it('an image answers from its size and tEXt chunk', async () => {
		const png = makePng(320, 200, 'receipt-42');
		const res = await fetch(`${sandbox.url}/v1/chat/completions`, {
			method: 'POST',
			headers: { 'content-type': 'application/json', authorization: 'Bearer k' },
			body: JSON.stringify({
				model: 'gpt-4o-mini',
				messages: [
					{
						role: 'user',
						content: [
							{ type: 'text', text: 'What is it?' },
							{
								type: 'image_url',
								image_url: { url: `data:image/png;base64,${png.toString('base64')}` },
							},
						],
					},
				],
			}),
		});
		const body = (await res.json()) as { choices: Array<{ message: { content: string } }> };
		expect(body.choices[0].message.content).toContain(
			'What is it?\nimage 320x200 Comment: receipt-42',
		);
	});
});
