import { NodeOperationError, type INodeExecutionData } from 'n8n-workflow';
import { beforeEach, describe, expect, it } from 'vitest';

import { resetSharedFlow } from '../../core/call/limiter/in-process';
import { executeLlmBatchCall } from '../../nodes/LlmBatchCall/execute';
import { FakeClock } from '../helpers/fake-clock';
import { mockExecute } from '../helpers/mock-execute';
import { invoicePdf, makePdf, makePng } from '../helpers/pdf';

const CREDS = {
	llmBatchOpenAiApi: { apiKey: 'sk-test', baseUrl: 'http://llm.test/v1' },
	llmBatchAnthropicApi: { apiKey: 'sk-ant-test', baseUrl: 'http://llm.test' },
};

const file = (buf: Buffer, fileName: string, mimeType = 'application/pdf') => ({
	data: { data: buf.toString('base64'), mimeType, fileName },
});

/** Answers every call with the text of the first file it carries (its base64 digest). */
function stubFetch() {
	const bodies: Array<Record<string, unknown>> = [];
	const fetchImpl = (async (url: string, init: RequestInit) => {
		const body = JSON.parse(String(init.body)) as Record<string, unknown>;
		bodies.push(body);
		const json = String(url).includes('/messages')
			? {
					id: 'm',
					type: 'message',
					role: 'assistant',
					model: body.model,
					content: [{ type: 'text', text: 'ok' }],
					stop_reason: 'end_turn',
					usage: { input_tokens: 100, output_tokens: 2 },
				}
			: {
					id: 'c',
					object: 'chat.completion',
					created: 0,
					model: body.model,
					choices: [
						{ index: 0, message: { role: 'assistant', content: 'ok' }, finish_reason: 'stop' },
					],
					usage: { prompt_tokens: 100, completion_tokens: 2, total_tokens: 102 },
				};
		return new Response(JSON.stringify(json), {
			status: 200,
			headers: { 'content-type': 'application/json' },
		});
	}) as unknown as typeof fetch;
	return { fetchImpl, bodies };
}

function inputs(): INodeExecutionData[] {
	return [
		{ json: { id: 'good-1' }, binary: file(invoicePdf(1).pdf, 'inv-1.pdf') },
		{ json: { id: 'png-named-pdf' }, binary: file(makePng(800, 600), 'scan.pdf') },
		{ json: { id: 'png' }, binary: file(makePng(800, 600), 'photo', 'application/octet-stream') },
		{ json: { id: 'zip' }, binary: file(Buffer.from([0x50, 0x4b, 3, 4, 0, 0]), 'bundle.pdf') },
		{ json: { id: 'empty' }, binary: file(Buffer.alloc(0), 'empty.pdf') },
		{ json: { id: 'locked' }, binary: file(makePdf([['x']], { encrypted: true }), 'locked.pdf') },
		{
			json: { id: 'long' },
			binary: file(makePdf(Array.from({ length: 600 }, () => ['p'])), 'long.pdf'),
		},
		{ json: { id: 'no-file' } },
		{ json: { id: 'good-2' }, binary: file(invoicePdf(2).pdf, 'inv-2.pdf') },
	];
}

function params(provider: 'openai' | 'anthropic', extra: Record<string, unknown> = {}) {
	return {
		provider,
		model: provider === 'openai' ? 'gpt-4o-mini' : 'claude-3-5-haiku-latest',
		systemPrompt: '',
		prompt: 'Extract the invoice.',
		recordId: (_i: number, item: { json: Record<string, unknown> }) => item.json.id,
		outputFormat: 'text',
		concurrency: 1,
		requestsPerMinute: 6000,
		tokensPerMinute: 10_000_000,
		resultField: 'llm',
		ledgerStore: 'none',
		options: { progressIntervalSeconds: 0, attachments: 'data', ...extra },
	};
}

describe('LLM Batch Call: Attachments', () => {
	beforeEach(() => resetSharedFlow());

	for (const provider of ['openai', 'anthropic'] as const) {
		it(`${provider}: each file in its own request as the provider's part; bad files fail their item naming the file, nothing sent for them`, async () => {
			const { fetchImpl, bodies } = stubFetch();
			const m = mockExecute({
				inputs: [inputs()],
				parameters: params(provider),
				credentials: CREDS,
			});
			const [success, failed] = await executeLlmBatchCall(m.fns, {
				clock: new FakeClock(),
				fetch: fetchImpl,
			});
			expect(success.map((i) => [i.json.id, i.pairedItem])).toEqual([
				['good-1', { item: 0 }],
				['png', { item: 2 }],
				['good-2', { item: 8 }],
			]);
			expect(
				failed.map((i) => [i.json.id, (i.json.error as { code: string }).code, i.pairedItem]),
			).toEqual([
				['png-named-pdf', 'invalid_input', { item: 1 }],
				['zip', 'invalid_input', { item: 3 }],
				['empty', 'invalid_input', { item: 4 }],
				['locked', 'invalid_input', { item: 5 }],
				['long', 'invalid_input', { item: 6 }],
				['no-file', 'invalid_input', { item: 7 }],
			]);
			const messages = failed.map((i) => (i.json.error as { message: string }).message);
			expect(messages[0]).toMatch(
				/^Attachment data \(scan\.pdf\) is declared a PDF by its name but its content is a PNG image/,
			);
			expect(messages[1]).toMatch(/^Attachment data \(bundle\.pdf\) is a ZIP archive/);
			expect(messages[2]).toMatch(/^Attachment data \(empty\.pdf\) is empty \(0 bytes\)/);
			expect(messages[3]).toMatch(/^Attachment data \(locked\.pdf\) is an encrypted/);
			expect(messages[4]).toMatch(
				/^Attachment data \(long\.pdf\) has 600 pages, more than .* \(100\)/,
			);
			expect(messages[5]).toMatch(
				/^Attachment data is not on this item \(its binary properties: none\)/,
			);
			// Three requests, each carrying its own file only.
			expect(bodies).toHaveLength(3);
			const sent = bodies.map((b) => JSON.stringify(b));
			const b64 = (i: number) => inputs()[i].binary!.data.data as string;
			expect([0, 2, 8].map((i, k) => sent[k].includes(b64(i)))).toEqual([true, true, true]);
			expect(sent[0].includes(b64(8))).toBe(false);
			const content = (bodies[1].messages as Array<{ content: Array<{ type: string }> }>)[0]
				.content;
			expect(content.map((p) => p.type)).toEqual(
				provider === 'openai' ? ['text', 'image_url'] : ['image', 'text'],
			);
			const pdfPart = (bodies[0].messages as Array<{ content: Array<{ type: string }> }>)[0]
				.content;
			expect(pdfPart.map((p) => p.type)).toEqual(
				provider === 'openai' ? ['text', 'file'] : ['document', 'text'],
			);
			// Read once to inspect and once to send: only the files that are sent are read twice.
			const reads = m.binaryReads.map((r) => r.itemIndex);
			expect(reads.filter((i) => i === 0)).toHaveLength(2);
			expect(reads.filter((i) => i === 3)).toHaveLength(1);
		});
	}

	it('Attachments with Records per Request above 1 is a configuration error before any call', async () => {
		const { fetchImpl, bodies } = stubFetch();
		const m = mockExecute({
			inputs: [inputs()],
			parameters: params('openai', { recordsPerRequest: 5 }),
			credentials: CREDS,
		});
		await expect(
			executeLlmBatchCall(m.fns, { clock: new FakeClock(), fetch: fetchImpl }),
		).rejects.toThrow(NodeOperationError);
		expect(bodies).toHaveLength(0);
	});
});
