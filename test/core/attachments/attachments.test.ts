import { describe, expect, it } from 'vitest';

import {
	attachFile,
	checkAttachments,
	loadFiles,
	type AttachedFile,
} from '../../../core/call/attachments';
import { detectFile, readPdf } from '../../../core/call/attachments-inspect';
import { inputPolicy, isItemError } from '../../../core/call/input';
import { anthropicMessageParams, openAiChatBody } from '../../../core/call/providers/bodies';
import {
	anthropicImageTokens,
	fileTokens,
	openAiImageTokens,
} from '../../../core/documents-tokens';
import { invoicePdf, makePdf, makePng } from '../../helpers/pdf';

const attach = (buf: Buffer, fileName: string, property = 'data') => {
	const out = attachFile({ property, fileName }, buf, async () => buf);
	return out;
};
const file = (buf: Buffer, fileName: string): AttachedFile => {
	const f = attach(buf, fileName);
	if ('error' in f) throw new Error(f.error);
	return f;
};

describe('files judged by their bytes', () => {
	it('reads pages, text and encryption of a PDF, plain or compressed', () => {
		const pages = [['Invoice number: INV-1', 'Total: 12.00'], ['page two'], ['page three']];
		for (const compress of [false, true]) {
			const pdf = readPdf(makePdf(pages, { compress }));
			expect(pdf).toEqual({
				pages: 3,
				encrypted: false,
				text: 'Invoice number: INV-1\nTotal: 12.00\npage two\npage three',
			});
		}
		expect(readPdf(makePdf([['x']], { encrypted: true })).encrypted).toBe(true);
	});

	it('judged by the bytes: a PNG named .pdf is a PNG and refused as not what it claims; a ZIP, an empty file and an encrypted PDF are refused naming the file', () => {
		expect(detectFile(makePng(10, 10))).toEqual({ kind: 'image', mimeType: 'image/png' });
		expect(attach(makePng(640, 480), 'scan.pdf')).toEqual({
			error:
				'Attachment data (scan.pdf) is declared a PDF by its name but its content is a PNG image: fix its name and type (e.g. .png, image/png) in the node that produced it, or check that it is the file you meant',
		});
		const png = file(makePng(640, 480), 'scan');
		expect(png.facts).toEqual({
			kind: 'image',
			mimeType: 'image/png',
			bytes: png.facts.bytes,
			width: 640,
			height: 480,
		});
		const zip = Buffer.from([0x50, 0x4b, 0x03, 0x04, 1, 2, 3]);
		expect(attach(zip, 'a.pdf')).toEqual({
			error: expect.stringMatching(
				/^Attachment data \(a\.pdf\) is a ZIP archive .*send PDFs or PNG, JPEG, WebP or GIF/,
			),
		});
		expect(attach(Buffer.alloc(0), 'empty.pdf')).toEqual({
			error: 'Attachment data (empty.pdf) is empty (0 bytes): check the node that produced it',
		});
		expect(attach(makePdf([['x']], { encrypted: true }), 'locked.pdf')).toEqual({
			error: expect.stringMatching(
				/^Attachment data \(locked\.pdf\) is an encrypted .*save it without a password/,
			),
		});
	});

	it("checks each provider's caps: pages, image size, request size", () => {
		const big = file(makePdf(Array.from({ length: 600 }, (_, i) => [`p${i}`])), 'long.pdf');
		expect(big.facts.pages).toBe(600);
		expect(checkAttachments('anthropic', 'claude-x', [big])).toMatch(
			/^Attachment data \(long\.pdf\) has 600 pages, more than claude-x reads in one request \(100\): split the PDF/,
		);
		const image = file(makePng(4000, 3000, undefined, 6 * 1024 * 1024), 'photo.png');
		expect(checkAttachments('anthropic', 'm', [image])).toMatch(
			/over anthropic's 5\.0 MB per image/,
		);
		expect(checkAttachments('openai', 'm', [image])).toBeUndefined();
		const huge = file(makePng(4000, 3000, undefined, 60 * 1024 * 1024), 'huge.png');
		expect(checkAttachments('openai', 'm', [huge])).toMatch(/over openai's 20\.0 MB per image/);
	});
});

describe("estimates by the providers' rules", () => {
	it('images: OpenAI tiles, Anthropic w*h/750', () => {
		expect(openAiImageTokens(1024, 1024)).toBe(765);
		expect(openAiImageTokens(512, 512)).toBe(255);
		expect(anthropicImageTokens(1000, 1000)).toBe(1334);
		expect(anthropicImageTokens(200, 200)).toBe(54);
	});
	it('PDF: pages times the page figure plus the text', () => {
		const { pdf } = invoicePdf(2);
		const f = file(pdf, 'i.pdf').facts;
		expect(f.pages).toBe(3);
		expect(fileTokens('anthropic', f)).toBe(3 * 1500 + f.textTokens!);
		expect(fileTokens('openai', f)).toBe(3 * 765 + f.textTokens!);
		expect(fileTokens('gemini', f)).toBe(3 * 258);
	});
});

describe('content parts and identity', () => {
	const shape = {
		provider: 'openai' as const,
		scope: 's',
		model: 'gpt-4o',
		maxTokens: 100,
		contextWindow: 0,
	};

	it('another file is another call; a file over the caps is an invalid_input naming it', () => {
		const policy = inputPolicy(shape);
		const a = policy(0, {
			prompt: 'p',
			system: '',
			recordId: 'r',
			attachments: [file(invoicePdf(1).pdf, 'a.pdf')],
		});
		const b = policy(1, {
			prompt: 'p',
			system: '',
			recordId: 'r',
			attachments: [file(invoicePdf(2).pdf, 'b.pdf')],
		});
		const none = policy(2, { prompt: 'p', system: '', recordId: 'r' });
		if (isItemError(a) || isItemError(b) || isItemError(none)) throw new Error('rejected');
		expect(new Set([a.promptHash, b.promptHash, none.promptHash]).size).toBe(3);
		expect(a.inputTokens - none.inputTokens).toBe(
			fileTokens('openai', a.request.attachments![0].facts),
		);
		const tooMany = policy(3, {
			prompt: 'p',
			system: '',
			recordId: 'r',
			attachments: [file(makePdf(Array.from({ length: 101 }, () => ['x'])), 'long.pdf')],
		});
		expect(tooMany).toMatchObject({
			code: 'invalid_input',
			retryable: false,
			message: expect.stringContaining('long.pdf'),
		});
		expect(
			policy(4, {
				prompt: 'p',
				system: '',
				recordId: 'r',
				attachments: { error: 'Attachment data (x.zip) is …' },
			}),
		).toEqual({
			code: 'invalid_input',
			message: 'Attachment data (x.zip) is …',
			retryable: false,
			attempts: 0,
		});
	});

	it('OpenAI: a file part (base64 + filename) and an image_url part; never built unread', async () => {
		const pdf = invoicePdf(1).pdf;
		const png = makePng(10, 10);
		const attachments = [file(pdf, 'inv.pdf'), file(png, 'p.png')];
		const req = { model: 'gpt-4o', prompt: 'Extract', maxTokens: 10, attachments };
		expect(() => openAiChatBody(req)).toThrow(/not read/);
		const body = openAiChatBody(req, await loadFiles(attachments));
		expect(body.messages).toEqual([
			{
				role: 'user',
				content: [
					{ type: 'text', text: 'Extract' },
					{
						type: 'file',
						file: {
							filename: 'inv.pdf',
							file_data: `data:application/pdf;base64,${pdf.toString('base64')}`,
						},
					},
					{
						type: 'image_url',
						image_url: { url: `data:image/png;base64,${png.toString('base64')}` },
					},
				],
			},
		]);
	});

	it('Anthropic: document and image blocks; a shared document carries the cache breakpoint', async () => {
		const pdf = invoicePdf(1).pdf;
		const png = makePng(10, 10);
		const shared = { ...file(pdf, 'terms.pdf'), shared: true };
		const own = file(png, 'p.png');
		const req = {
			model: 'claude',
			prompt: 'Extract',
			maxTokens: 10,
			attachments: [own, shared],
			cache: { ttl: '5m' as const },
		};
		const body = anthropicMessageParams(req, await loadFiles(req.attachments));
		expect(body.messages[0].content).toEqual([
			{
				type: 'document',
				source: { type: 'base64', media_type: 'application/pdf', data: pdf.toString('base64') },
				cache_control: { type: 'ephemeral' },
			},
			{
				type: 'image',
				source: { type: 'base64', media_type: 'image/png', data: png.toString('base64') },
			},
			{ type: 'text', text: 'Extract' },
		]);
	});
});
