/**
 * The files a request carries, as the sandbox reads them: OpenAI `file` (PDF `file_data`) and
 * `image_url` (data URL) parts, Anthropic `document` and `image` blocks (base64), Gemini
 * `inlineData` parts. A PDF is read
 * for its text — the shown strings of its content streams, plain or Flate-compressed, which is
 * what the generated test PDFs have (other encodings are not extracted) — and an image for its
 * size and a PNG's tEXt chunk. The answer is made from that text, so a test can check that each
 * answer belongs to its own document; the bill counts each file by the package's own estimate
 * (core/documents-tokens.ts) moved by a deterministic ±5 % per file, so estimate-vs-billed is
 * a real comparison.
 */
import { createHash } from 'node:crypto';

import { inspectFile, readPdf } from '../core/call/attachments-inspect';
import { fileTokens } from '../core/documents-tokens';
import type { JsonSchema, Reply } from './reply';

export interface SandboxDocument {
	kind: 'pdf' | 'image';
	/** PDF: its text; image: `image WxH` and its tEXt comment. */
	text: string;
	/** Input tokens billed for it. */
	tokens: number;
}

export type DocumentsRead =
	| { ok: true; documents: SandboxDocument[] }
	| { ok: false; message: string };

type Part = Record<string, unknown>;

/** The base64 payload of a part, when the part is a file. */
function payloadOf(part: Part): string | undefined {
	const dataUrl = (v: unknown) =>
		typeof v === 'string' ? (v.startsWith('data:') ? v.slice(v.indexOf(',') + 1) : v) : undefined;
	if (part.type === 'file') return dataUrl((part.file as Part | undefined)?.file_data);
	if (part.type === 'image_url') {
		const url = (part.image_url as Part | undefined)?.url;
		return typeof url === 'string' && url.startsWith('data:') ? dataUrl(url) : undefined;
	}
	if (part.type === 'document' || part.type === 'image') {
		const source = part.source as Part | undefined;
		return source?.type === 'base64' ? dataUrl(source.data) : undefined;
	}
	// Gemini: `{ inlineData: { mimeType, data } }`.
	const inline = part.inlineData as Part | undefined;
	return inline ? dataUrl(inline.data) : undefined;
}

/** The files of every message, read; a file the providers would refuse is the request's 400. */
export function readDocuments(
	messages: unknown[],
	dialect: 'openai' | 'anthropic' | 'gemini',
	model: string,
): DocumentsRead {
	const documents: SandboxDocument[] = [];
	for (const m of messages) {
		// OpenAI and Anthropic messages hold `content`; Gemini contents hold `parts`.
		const msg = m as { content?: unknown; parts?: unknown } | null;
		const content = msg?.content ?? msg?.parts;
		if (!Array.isArray(content)) continue;
		for (const part of content as Part[]) {
			const b64 = part && typeof part === 'object' ? payloadOf(part) : undefined;
			if (b64 === undefined) continue;
			const buf = Buffer.from(b64, 'base64');
			const facts = inspectFile(buf);
			if (!facts) return { ok: false, message: 'The file is not a supported PDF or image.' };
			if (facts.encrypted)
				return { ok: false, message: 'The PDF specified was not valid (encrypted).' };
			const text =
				facts.kind === 'pdf'
					? readPdf(buf).text
					: `image ${facts.width ?? 0}x${facts.height ?? 0}${pngComment(buf)}`;
			const sha = createHash('sha256').update(buf).digest();
			// ±5 %, the same for the same file every time.
			const deviation = 1 + ((sha.readUInt16BE(0) % 101) - 50) / 1000;
			const tokens = Math.round(fileTokens(dialect, facts, model) * deviation);
			documents.push({ kind: facts.kind, text, tokens });
		}
	}
	return { ok: true, documents };
}

/** A PNG's first tEXt chunk, as ` Keyword: text`. */
function pngComment(buf: Buffer): string {
	if (buf[0] !== 0x89) return '';
	let at = 8;
	while (at + 8 <= buf.length) {
		const length = buf.readUInt32BE(at);
		const type = buf.toString('latin1', at + 4, at + 8);
		if (type === 'tEXt') {
			const [key, value] = buf.toString('latin1', at + 8, at + 8 + length).split('\0');
			return ` ${key}: ${value ?? ''}`;
		}
		if (type === 'IEND') break;
		at += 12 + length;
	}
	return '';
}

/** "Label: value" lines of the documents' text, by label folded to letters and digits. */
function labelledValues(text: string): { values: Map<string, string>; lines: string[] } {
	const values = new Map<string, string>();
	const lines: string[] = [];
	for (const raw of text.split('\n')) {
		const m = /^\s*([A-Za-z][A-Za-z ]{0,40}):\s*(.+?)\s*$/.exec(raw);
		if (!m) continue;
		const key = fold(m[1]);
		if (key === 'line') lines.push(m[2]);
		else if (!values.has(key)) values.set(key, m[2]);
	}
	return { values, lines };
}

const fold = (s: string) => s.toLowerCase().replace(/[^a-z0-9]/g, '');

/**
 * The reply with the schema's properties that the documents state filled from them
 * (`invoiceNumber` from "Invoice number: …", a number-typed `total` from "Total: 12.00", an
 * array of `{ description, amount }` from "Line: … 10.00" lines); the rest as the sandbox
 * answers any prompt.
 */
export function withDocumentFields(
	reply: Reply,
	schema: JsonSchema | undefined,
	documents: readonly SandboxDocument[] | undefined,
): Reply {
	if (!documents?.length || !schema || !reply.output || typeof reply.output !== 'object')
		return reply;
	const { values, lines } = labelledValues(documents.map((d) => d.text).join('\n'));
	const props = (schema.properties ?? {}) as Record<string, JsonSchema>;
	const out = { ...(reply.output as Record<string, unknown>) };
	for (const [name, prop] of Object.entries(props)) {
		const type = Array.isArray(prop.type) ? prop.type[0] : prop.type;
		if (type === 'array' && lines.length > 0) {
			out[name] = lines.map((l) => {
				const m = /^(.*?)\s+(-?\d+(?:\.\d+)?)$/.exec(l);
				return m ? { description: m[1], amount: Number(m[2]) } : { description: l, amount: 0 };
			});
			continue;
		}
		const value = values.get(fold(name));
		if (value === undefined) continue;
		out[name] = type === 'number' || type === 'integer' ? Number(value) : value;
	}
	return { text: JSON.stringify(out), output: out };
}

/** The documents' part of the digest and of a text answer: their text, in order. */
export function documentsText(documents: readonly SandboxDocument[] | undefined): string {
	return documents?.length ? documents.map((d) => d.text).join('\n') : '';
}
