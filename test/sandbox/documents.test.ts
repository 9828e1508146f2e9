import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import { resetSharedFlow } from '../../core/call/limiter/in-process';
import { startSandbox, type Sandbox } from '../../sandbox/server';
import {
	estimateInvoiceTokens,
	extractInvoices,
	hasOwnInvoice,
	invoiceIndex,
	invoiceItems,
} from '../helpers/invoices';
import { makePng } from '../helpers/pdf';

const N = 12;

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
			const input = invoiceItems(N);
			const [success, failed] = await extractInvoices(sandbox, provider, model, input, {
				concurrency: 4,
			});
			expect(failed).toEqual([]);
			expect(success.map((item) => (item.pairedItem as { item: number }).item)).toEqual(
				success.map(invoiceIndex),
			);
			expect(success.map(invoiceIndex).sort((a, b) => a - b)).toEqual([...Array(N).keys()]);
			expect(success.filter((item) => !hasOwnInvoice(item))).toEqual([]);
			// The estimate the limiter charged, item by item, against what the sandbox billed.
			const estimated = estimateInvoiceTokens(provider, model, input);
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
