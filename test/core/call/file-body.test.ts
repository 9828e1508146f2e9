import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

import { describe, expect, it } from 'vitest';

import {
	attachFile,
	geminiFileParts,
	loadFiles,
	type AttachedFile,
} from '../../../core/call/attachments';
import { createAnthropicProvider } from '../../../core/call/providers/anthropic';
import { anthropicMessageParams, openAiChatBody } from '../../../core/call/providers/bodies';
import { spliceFiles } from '../../../core/call/providers/file-body';
import { createGeminiProvider } from '../../../core/call/providers/gemini';
import { geminiRequestBody } from '../../../core/call/providers/gemini-bodies';
import { createOpenAiProvider } from '../../../core/call/providers/openai';
import type { ChatRequest, Provider } from '../../../core/call/providers/types';
import { invoicePdf, makePng } from '../../helpers/pdf';

const file = (buf: Buffer, fileName: string): AttachedFile => {
	const f = attachFile({ property: 'data', fileName }, buf, async () => buf);
	if ('error' in f) throw new Error(f.error);
	return f;
};

/** A PDF padded past one base64 chunk of the transport (48 KB) and not a multiple of 3 bytes. */
const bigPdf = Buffer.concat([invoicePdf(3).pdf, randomBytes(150_001)]);
const png = makePng(10, 10);

const MODELS = {
	openai: 'gpt-4.1-mini',
	anthropic: 'claude-3-5-haiku-latest',
	gemini: 'gemini-2.5-flash',
};

const ANSWERS = {
	openai: {
		id: 'c1',
		object: 'chat.completion',
		model: 'gpt-4.1-mini',
		choices: [{ index: 0, message: { role: 'assistant', content: 'ok' }, finish_reason: 'stop' }],
		usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
	},
	anthropic: {
		id: 'm1',
		type: 'message',
		role: 'assistant',
		model: 'claude-3-5-haiku-latest',
		content: [{ type: 'text', text: 'ok' }],
		stop_reason: 'end_turn',
		usage: { input_tokens: 1, output_tokens: 1 },
	},
	gemini: { candidates: [{ content: { parts: [{ text: 'ok' }] }, finishReason: 'STOP' }] },
};

/** A fetch that keeps each request body as sent and answers like the provider. */
function recordingFetch(answer: object) {
	const bodies: unknown[] = [];
	const fetchImpl = (async (_url: string, init?: RequestInit) => {
		bodies.push(init?.body);
		return new Response(JSON.stringify(answer), {
			status: 200,
			headers: { 'content-type': 'application/json' },
		});
	}) as typeof fetch;
	return { bodies, fetchImpl };
}

const cases: Array<{
	name: keyof typeof ANSWERS;
	provider: (f: typeof fetch | undefined, base?: string) => Provider;
	expected: (req: ChatRequest) => Promise<unknown>;
}> = [
	{
		name: 'openai',
		provider: (f, base = 'http://x') =>
			createOpenAiProvider({ apiKey: 'k', baseUrl: `${base}/v1` }, f),
		expected: async (req) => openAiChatBody(req, await loadFiles(req.attachments)),
	},
	{
		name: 'anthropic',
		provider: (f, base = 'http://x') => createAnthropicProvider({ apiKey: 'k', baseUrl: base }, f),
		expected: async (req) => anthropicMessageParams(req, await loadFiles(req.attachments)),
	},
	{
		name: 'gemini',
		provider: (f, base = 'http://x') => createGeminiProvider({ apiKey: 'k', baseUrl: base }, f),
		expected: async (req) =>
			geminiRequestBody(req, geminiFileParts(await loadFiles(req.attachments))),
	},
];

describe('a realtime request with files: the file bytes are written into the body as it is sent', () => {
	it.each(cases)(
		'$name: the body goes to the transport as bytes, equal to the body built from the files’ base64',
		async ({ name, provider, expected }) => {
			const { bodies, fetchImpl } = recordingFetch(ANSWERS[name]);
			const req: ChatRequest = {
				model: MODELS[name],
				// Multi-byte characters before and after the files: offsets are bytes, not characters.
				prompt: 'Extract this Rechnung — Größe €',
				system: 'Réponds en JSON',
				maxTokens: 50,
				attachments: [file(bigPdf, 'inv.pdf'), file(png, 'p.png')],
			};
			const answer = await provider(fetchImpl).complete(req, { timeoutMs: 5_000 });
			expect(answer.text).toBe('ok');
			expect(bodies).toHaveLength(1);
			const sent = bodies[0];
			// Bytes, not a JSON string: no string holding a whole file's base64 was made for it.
			expect(sent).toBeInstanceOf(Uint8Array);
			expect(JSON.parse(Buffer.from(sent as Uint8Array).toString('utf8'))).toEqual(
				JSON.parse(JSON.stringify(await expected(req))),
			);
		},
	);

	it.each(cases)('$name: a request without files is sent as before', async ({ name, provider }) => {
		const { bodies, fetchImpl } = recordingFetch(ANSWERS[name]);
		const req: ChatRequest = { model: 'm', prompt: 'Hello', maxTokens: 5 };
		await provider(fetchImpl).complete(req, { timeoutMs: 5_000 });
		expect(typeof bodies[0]).toBe('string');
	});
});

describe('the transport (node:http) writes the files into the body as it goes out', () => {
	it.each(cases)(
		'$name: the server receives the body built from the files’ base64, with its length',
		async ({ name, provider, expected }) => {
			const received: Array<{ length: string | undefined; body: Buffer }> = [];
			const server = createServer((req, res) => {
				const chunks: Buffer[] = [];
				req.on('data', (c: Buffer) => chunks.push(c));
				req.on('end', () => {
					received.push({ length: req.headers['content-length'], body: Buffer.concat(chunks) });
					res.setHeader('content-type', 'application/json');
					res.end(JSON.stringify(ANSWERS[name]));
				});
			});
			await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
			try {
				const { port } = server.address() as AddressInfo;
				const base = `http://127.0.0.1:${port}`;
				const req: ChatRequest = {
					model: MODELS[name],
					prompt: 'Extract this Rechnung — Größe €',
					maxTokens: 50,
					attachments: [file(bigPdf, 'inv.pdf'), file(png, 'p.png')],
				};
				// No fetch given: the provider's own transport; a cancel signal rides beside the files.
				const answer = await provider(undefined, base).complete(req, {
					timeoutMs: 5_000,
					signal: new AbortController().signal,
				});
				expect(answer.text).toBe('ok');
				expect(received).toHaveLength(1);
				expect(received[0].length).toBe(String(received[0].body.length));
				expect(JSON.parse(received[0].body.toString('utf8'))).toEqual(
					JSON.parse(JSON.stringify(await expected(req))),
				);
			} finally {
				await new Promise((r) => server.close(r));
			}
		},
	);
});

describe('spliceFiles', () => {
	const a = Buffer.from('first file');
	const b = randomBytes(3 * 16 * 1024 * 2 + 1);
	it('puts each file’s base64 where its marker stands, in body order, for any size', () => {
		for (const size of [1, 2, 3, 49_151, 49_152, 49_153, 200_000]) {
			const f = randomBytes(size);
			const out = spliceFiles('{"a":"é","d":"mk1","z":"€"}', new Map([['mk1', f]]));
			expect(JSON.parse(out.toString('utf8'))).toEqual({
				a: 'é',
				d: f.toString('base64'),
				z: '€',
			});
		}
		const out = spliceFiles(
			'["x-mkB-y","mkA"]',
			new Map([
				['mkA', a],
				['mkB', b],
			]),
		);
		expect(out.toString('utf8')).toBe(`["x-${b.toString('base64')}-y","${a.toString('base64')}"]`);
	});

	it('refuses a body that does not hold each marker exactly once', () => {
		expect(() => spliceFiles('{"d":"none"}', new Map([['mk1', a]]))).toThrow(
			'A file of the request is not in its body exactly once',
		);
		expect(() => spliceFiles('["mk1","mk1"]', new Map([['mk1', a]]))).toThrow(
			'A file of the request is not in its body exactly once',
		);
	});
});
