import { describe, expect, it } from 'vitest';

import { router } from '../../nodes/BatchPrepare/actions/router';
import { fileTokens } from '../../core/documents-tokens';
import { inspectFile } from '../../core/call/attachments-inspect';
import { FakeClock } from '../helpers/fake-clock';
import { mockExecute } from '../helpers/mock-execute';
import { invoicePdf, makePng } from '../helpers/pdf';

const deps = { clock: new FakeClock() };

describe('Batch Prepare Estimate counts attached files', () => {
	it("PDF pages and images by the model's provider rule; without the option the text alone", async () => {
		const pdf = invoicePdf(2).pdf; // 3 pages
		const png = makePng(1000, 1000);
		const inputs = [
			[
				{
					json: { text: 'a' },
					binary: { data: { data: pdf.toString('base64'), mimeType: 'application/pdf' } },
				},
				{
					json: { text: 'a' },
					binary: { data: { data: png.toString('base64'), mimeType: 'image/png' } },
				},
			],
		];
		const run = async (model: string, attachments?: string) => {
			const m = mockExecute({
				inputs,
				parameters: {
					operation: 'estimate',
					model,
					text: (_i: number, item: { json: { text: string } }) => item.json.text,
					outputTokensPerItem: 10,
					rpm: 0,
					tpm: 0,
					estimateOptions: attachments === undefined ? {} : { attachments },
				},
			});
			const [ready] = await router(m.fns, deps);
			return ready[0].json.tokens as { inputTotal: number; files?: number };
		};
		const plain = await run('claude-3-5-haiku-latest');
		expect(plain.files).toBeUndefined();
		const anthropic = await run('claude-3-5-haiku-latest', 'data');
		const expected =
			fileTokens('anthropic', inspectFile(pdf)!) + fileTokens('anthropic', inspectFile(png)!);
		expect(anthropic).toMatchObject({ files: expected, inputTotal: plain.inputTotal + expected });
		expect(fileTokens('anthropic', inspectFile(png)!)).toBe(1334);
		const openai = await run('gpt-4o', '*');
		expect(openai.files).toBe(fileTokens('openai', inspectFile(pdf)!) + 765);
	});
});
