/**
 * What a file is, judged by its bytes (never by its name or the mimeType it came with: a PNG
 * named invoice.pdf is a PNG), and the facts the checks and the estimates need: a PDF's page
 * count, whether it is encrypted, and its text; an image's pixel size.
 *
 * The PDF reading is a small parser rather than a library: the package has no runtime
 * dependencies, and a page count and the /Encrypt entry are two dictionary lookups. It reads
 * the page tree's /Count wherever the dictionaries are, in the file or inside compressed object
 * streams (PDF 1.5+, inflated with node:zlib), and falls back to counting the page objects.
 */
import { inflateSync } from 'node:zlib';

import { estimateTokens } from '../tokens';

export type FileKind = 'pdf' | 'image';

export interface FileFacts {
	kind: FileKind;
	mimeType: string;
	bytes: number;
	/** PDF: pages in its page tree. */
	pages?: number;
	/** PDF: the file carries an /Encrypt dictionary (providers refuse it). */
	encrypted?: boolean;
	/** PDF: estimated tokens of the text its content streams show (the estimate counts them). */
	textTokens?: number;
	/** Image: pixel size, when its header says it. */
	width?: number;
	height?: number;
}

const startsWith = (b: Buffer, sig: number[], at = 0) =>
	b.length >= at + sig.length && sig.every((v, i) => b[at + i] === v);

/** The file's type by its magic bytes; undefined for anything the providers cannot read. */
export function detectFile(buf: Buffer): { kind: FileKind; mimeType: string } | undefined {
	// A PDF may have a few bytes of junk before its header; readers accept it within 1 KB.
	if (buf.subarray(0, 1024).includes('%PDF-')) return { kind: 'pdf', mimeType: 'application/pdf' };
	if (startsWith(buf, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))
		return { kind: 'image', mimeType: 'image/png' };
	if (startsWith(buf, [0xff, 0xd8, 0xff])) return { kind: 'image', mimeType: 'image/jpeg' };
	if (startsWith(buf, [0x47, 0x49, 0x46, 0x38])) return { kind: 'image', mimeType: 'image/gif' };
	if (startsWith(buf, [0x52, 0x49, 0x46, 0x46]) && startsWith(buf, [0x57, 0x45, 0x42, 0x50], 8))
		return { kind: 'image', mimeType: 'image/webp' };
	return undefined;
}

/** What the bytes look like when they are no supported type (for the error message). */
export function describeUnsupported(buf: Buffer): string {
	if (startsWith(buf, [0x50, 0x4b, 0x03, 0x04])) return 'a ZIP archive (or an Office document)';
	if (startsWith(buf, [0x49, 0x49, 0x2a, 0x00]) || startsWith(buf, [0x4d, 0x4d, 0x00, 0x2a]))
		return 'a TIFF image';
	const head = buf.subarray(0, 512);
	if (head.every((c) => c === 9 || c === 10 || c === 13 || (c >= 32 && c < 127)))
		return 'plain text';
	return 'a file of an unknown type';
}

/** The facts of a supported file; undefined when its type is not supported. */
export function inspectFile(buf: Buffer): FileFacts | undefined {
	const type = detectFile(buf);
	if (!type) return undefined;
	if (type.kind === 'image')
		return { ...type, bytes: buf.length, ...imageSize(buf, type.mimeType) };
	const pdf = readPdf(buf);
	return {
		...type,
		bytes: buf.length,
		pages: pdf.pages,
		encrypted: pdf.encrypted,
		textTokens: estimateTokens(pdf.text),
	};
}

/** Pixel size from the image's header (PNG IHDR, JPEG SOFn, GIF screen, WebP VP8/VP8L/VP8X). */
export function imageSize(buf: Buffer, mimeType: string): { width?: number; height?: number } {
	try {
		if (mimeType === 'image/png')
			return { width: buf.readUInt32BE(16), height: buf.readUInt32BE(20) };
		if (mimeType === 'image/gif')
			return { width: buf.readUInt16LE(6), height: buf.readUInt16LE(8) };
		if (mimeType === 'image/webp') return webpSize(buf);
		if (mimeType === 'image/jpeg') return jpegSize(buf);
	} catch {
		// A cut-off header: the size stays unknown, and the estimate uses the provider's most.
	}
	return {};
}

function webpSize(buf: Buffer): { width?: number; height?: number } {
	const chunk = buf.toString('latin1', 12, 16);
	if (chunk === 'VP8X')
		return { width: 1 + buf.readUIntLE(24, 3), height: 1 + buf.readUIntLE(27, 3) };
	if (chunk === 'VP8L') {
		const bits = buf.readUInt32LE(21);
		return { width: 1 + (bits & 0x3fff), height: 1 + ((bits >> 14) & 0x3fff) };
	}
	if (chunk === 'VP8 ')
		return { width: buf.readUInt16LE(26) & 0x3fff, height: buf.readUInt16LE(28) & 0x3fff };
	return {};
}

function jpegSize(buf: Buffer): { width?: number; height?: number } {
	let at = 2;
	while (at + 9 < buf.length) {
		if (buf[at] !== 0xff) return {};
		const marker = buf[at + 1];
		const length = buf.readUInt16BE(at + 2);
		// SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC) carry the frame size.
		if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc)
			return { height: buf.readUInt16BE(at + 5), width: buf.readUInt16BE(at + 7) };
		at += 2 + length;
	}
	return {};
}

export interface PdfFacts {
	pages: number;
	encrypted: boolean;
	/** The text its content streams show (Tj / TJ / ' / " operators), pages joined by '\n'. */
	text: string;
}

/**
 * A PDF's page count, encryption and shown text. Streams are read as they are or inflated
 * (FlateDecode); text in other encodings (CID fonts, other filters) is not extracted — the
 * estimate then counts the pages alone.
 */
export function readPdf(buf: Buffer): PdfFacts {
	const raw = buf.toString('latin1');
	const encrypted = /\/Encrypt\s+(\d+\s+\d+\s+R|<<)/.test(raw);
	const bodies = [raw];
	const texts: string[] = [];
	for (const s of streams(raw)) {
		const data = s.flate ? inflate(s.data) : s.data;
		if (data === undefined) continue;
		if (/\/Type\s*\/ObjStm/.test(s.dict)) bodies.push(data);
		else if (!/\/(Subtype\s*\/Image|Type\s*\/XRef|Length1)/.test(s.dict)) {
			const shown = shownText(data);
			if (shown !== '') texts.push(shown);
		}
	}
	return { pages: pageCount(bodies), encrypted, text: texts.join('\n') };
}

function* streams(raw: string): Generator<{ dict: string; data: string; flate: boolean }> {
	const re = /<<((?:[^<>]|<[^<]|>[^>]|<<(?:[^<>]|<[^<]|>[^>])*>>)*)>>\s*stream\r?\n/g;
	let m: RegExpExecArray | null;
	while ((m = re.exec(raw)) !== null) {
		const dict = m[1];
		const start = m.index + m[0].length;
		const declared = /\/Length\s+(\d+)(?!\s+\d+\s+R)/.exec(dict);
		let end = declared ? start + Number(declared[1]) : -1;
		if (end < 0 || raw.slice(end, end + 12).search(/\s*endstream/) !== 0)
			end = raw.indexOf('endstream', start);
		if (end < 0) return;
		yield { dict, data: raw.slice(start, end), flate: /\/FlateDecode/.test(dict) };
		re.lastIndex = end;
	}
}

function inflate(data: string): string | undefined {
	try {
		return inflateSync(Buffer.from(data, 'latin1')).toString('latin1');
	} catch {
		return undefined;
	}
}

/** The root page tree's /Count (the largest), else the page objects counted. */
function pageCount(bodies: string[]): number {
	let count = 0;
	let leaves = 0;
	for (const body of bodies) {
		for (const m of body.matchAll(
			/\/Type\s*\/Pages\b[^>]*?\/Count\s+(\d+)|\/Count\s+(\d+)[^>]*?\/Type\s*\/Pages\b/g,
		))
			count = Math.max(count, Number(m[1] ?? m[2]));
		leaves += body.match(/\/Type\s*\/Page(?![a-zA-Z])/g)?.length ?? 0;
	}
	return count > 0 ? count : leaves;
}

/** The strings a content stream shows, in order; a new line at each line move (T*, Td, TD, ', "). */
function shownText(content: string): string {
	if (!/\bBT\b/.test(content)) return '';
	const out: string[] = [];
	for (const block of content.match(/\bBT\b[^]*?\bET\b/g) ?? []) {
		let line = '';
		const tokens = /\((?:\\.|[^\\)])*\)|\[[^\]]*\]\s*TJ|\bT\*|\bT[dD]\b|['"](?=\s|$)/g;
		for (const m of block.matchAll(tokens)) {
			const token = m[0];
			if (token.startsWith('(')) line += unescape(token);
			else if (token.startsWith('[')) {
				for (const s of token.match(/\((?:\\.|[^\\)])*\)/g) ?? []) line += unescape(s);
			} else if (line !== '') {
				out.push(line);
				line = '';
			}
		}
		if (line !== '') out.push(line);
	}
	return out.join('\n');
}

function unescape(literal: string): string {
	return literal.slice(1, -1).replace(/\\([nrtbf()\\]|[0-7]{1,3})/g, (_, c: string) => {
		const map: Record<string, string> = { n: '\n', r: '\r', t: '\t', b: '\b', f: '\f' };
		if (map[c]) return map[c];
		if (/^[0-7]+$/.test(c)) return String.fromCharCode(parseInt(c, 8));
		return c;
	});
}
