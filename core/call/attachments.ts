/**
 * Files sent with a prompt (PDFs and images from an item's binary data): the providers'
 * limits in one table, the per-item check against them (before any spend), and each
 * provider's own content parts. The bytes are read twice, never held for the run: once to
 * inspect (attachments-inspect.ts) and once, lazily, when the request is sent (`read`).
 */
import { createHash, randomBytes } from 'node:crypto';

import type { ProviderName } from '../types';
import { describeUnsupported, inspectFile, type FileFacts } from './attachments-inspect';

export type { FileFacts } from './attachments-inspect';

/** Providers that read attachments: the realtime two and Gemini (inline data). */
export type AttachmentProvider = ProviderName | 'gemini';

export interface FileCaps {
	/** The whole request, files base64-encoded (how they travel) included. */
	requestBytes: number;
	/** One image, as its raw bytes. */
	imageBytes: number;
	/** One PDF's pages. */
	pdfPages: number;
}

const MB = 1024 * 1024;

/**
 * The providers' documented limits: OpenAI 50 MB per request with files, 20 MB per image,
 * 100 pages per PDF; Anthropic 32 MB per request, 5 MB per image, 100 pages per PDF; Gemini
 * 20 MB of inline data per request, 1,000 pages per PDF.
 */
export const FILE_CAPS: Record<AttachmentProvider, FileCaps> = {
	openai: { requestBytes: 50 * MB, imageBytes: 20 * MB, pdfPages: 100 },
	anthropic: { requestBytes: 32 * MB, imageBytes: 5 * MB, pdfPages: 100 },
	gemini: { requestBytes: 20 * MB, imageBytes: 20 * MB, pdfPages: 1000 },
};

/** One file an item sends: where it came from, what it is, and how to read it again. */
export interface AttachedFile {
	/** The item's binary property (e.g. `data`). */
	property: string;
	fileName: string;
	facts: FileFacts;
	/** sha256 of the bytes: part of the answer's identity (another file is another call). */
	sha256: string;
	/** The bytes, read when the request is sent (n8n may keep them on disk or S3). */
	read: () => Promise<Buffer>;
	/** Carried by more than one item of the run: Anthropic caches it (core/call/cache.ts). */
	shared?: boolean;
}

/** How a file is named in messages: `data (invoice-17.pdf)`. */
export function fileLabel(f: { property: string; fileName?: string }): string {
	return f.fileName ? `${f.property} (${f.fileName})` : f.property;
}

/**
 * The bytes of one binary property inspected: an AttachedFile, or the message that names the
 * file and the fix (empty, unsupported type, encrypted PDF).
 */
export function attachFile(
	source: { property: string; fileName?: string; mimeType?: string },
	buf: Buffer,
	read: () => Promise<Buffer>,
): AttachedFile | { error: string } {
	const label = fileLabel(source);
	if (buf.length === 0)
		return { error: `Attachment ${label} is empty (0 bytes): check the node that produced it` };
	const facts = inspectFile(buf);
	if (!facts)
		return {
			error: `Attachment ${label} is ${describeUnsupported(buf)}, which the model cannot read: send PDFs or PNG, JPEG, WebP or GIF images (the type is judged by the file's content, not its name), or leave ${source.property} out of Attachments`,
		};
	const declared = declaredKind(source);
	if (declared && declared.kind !== facts.kind)
		return {
			error: `Attachment ${label} is declared ${declared.as} but its content is ${facts.kind === 'pdf' ? 'a PDF' : `a ${facts.mimeType.slice(6).toUpperCase()} image`}: fix its name and type (e.g. ${facts.kind === 'pdf' ? '.pdf, application/pdf' : `.${facts.mimeType.slice(6)}, ${facts.mimeType}`}) in the node that produced it, or check that it is the file you meant`,
		};
	if (facts.encrypted)
		return {
			error: `Attachment ${label} is an encrypted (password-protected) PDF, which the providers refuse: save it without a password first`,
		};
	const sha256 = createHash('sha256').update(buf).digest('hex');
	return { property: source.property, fileName: source.fileName ?? '', facts, sha256, read };
}

/**
 * What the file's name or mimeType says it is, when they say PDF or image: a file whose content
 * is another kind (a PNG named .pdf) is not sent as whichever it claims — the mismatch is said.
 */
function declaredKind(source: {
	fileName?: string;
	mimeType?: string;
}): { kind: 'pdf' | 'image'; as: string } | undefined {
	const ext = /\.([a-z0-9]+)$/i.exec(source.fileName ?? '')?.[1]?.toLowerCase();
	if (ext === 'pdf') return { kind: 'pdf', as: 'a PDF by its name' };
	if (ext && ['png', 'jpg', 'jpeg', 'webp', 'gif'].includes(ext))
		return { kind: 'image', as: `an image by its name (.${ext})` };
	const mime = source.mimeType?.toLowerCase() ?? '';
	if (mime === 'application/pdf') return { kind: 'pdf', as: 'a PDF by its mimeType' };
	if (mime.startsWith('image/')) return { kind: 'image', as: `an image by its mimeType (${mime})` };
	return undefined;
}

/** Why these files cannot go in one request to `provider`, naming the file and the fix; undefined when they can. */
export function checkAttachments(
	provider: AttachmentProvider,
	model: string,
	files: readonly AttachedFile[],
	promptBytes = 0,
): string | undefined {
	const caps = FILE_CAPS[provider];
	let total = promptBytes;
	for (const f of files) {
		const { facts } = f;
		const label = fileLabel(f);
		if (facts.kind === 'image' && facts.bytes > caps.imageBytes)
			return `Attachment ${label} is an image of ${mb(facts.bytes)}, over ${provider}'s ${mb(caps.imageBytes)} per image: scale or compress it first`;
		if (facts.kind === 'pdf' && (facts.pages ?? 0) > caps.pdfPages)
			return `Attachment ${label} has ${facts.pages} pages, more than ${model} reads in one request (${caps.pdfPages}): split the PDF (e.g. per ${caps.pdfPages} pages) into items of its own`;
		total += base64Bytes(facts.bytes);
	}
	if (total > caps.requestBytes) {
		const names = files.map(fileLabel).join(', ');
		return `Attachments ${names} make a request of ${mb(total)} (base64), over ${provider}'s ${mb(caps.requestBytes)} per request: send fewer or smaller files per item`;
	}
	return undefined;
}

export const base64Bytes = (bytes: number) => 4 * Math.ceil(bytes / 3);
const mb = (bytes: number) => `${(bytes / MB).toFixed(1)} MB`;

/**
 * A file read for sending: its bytes as base64 — or, for a realtime request, a marker the
 * transport replaces by them (`loadFileMarkers`).
 */
export interface LoadedFile {
	file: AttachedFile;
	base64: string;
}

/** Reads the request's files one after another (only this request's are held). */
export async function loadFiles(files: readonly AttachedFile[] | undefined): Promise<LoadedFile[]> {
	const out: LoadedFile[] = [];
	for (const file of files ?? [])
		out.push({ file, base64: (await readBytes(file)).toString('base64') });
	return out;
}

/** The bytes behind a request body's file markers, by marker (spliced in by core/call/providers/file-body.ts). */
export type FileBytes = Map<string, Buffer>;

/**
 * The request's files read for a realtime call: each stands in the body as a short marker and
 * its bytes travel beside it, base64-encoded only as the body is written. A 300 KB PDF as a
 * base64 string, then inside a data URL, then inside the JSON body is three strings of 400 KB,
 * each too large for V8's young generation: they wait for a full GC, and at 32 requests in
 * flight n8n's heap grew by hundreds of MB before one came (`bench:memory-n8n --documents`).
 */
export async function loadFileMarkers(
	files: readonly AttachedFile[] | undefined,
): Promise<{ files: LoadedFile[]; bytes: FileBytes }> {
	const out: LoadedFile[] = [];
	const bytes: FileBytes = new Map();
	if (!files?.length) return { files: out, bytes };
	// Random per request: a prompt cannot hold the marker by chance; letters and digits only,
	// so JSON carries it unescaped.
	const nonce = randomBytes(12).toString('hex');
	for (const [i, file] of files.entries()) {
		const marker = `llmbatchfile${nonce}n${i}`;
		bytes.set(marker, await readBytes(file));
		out.push({ file, base64: marker });
	}
	return { files: out, bytes };
}

async function readBytes(file: AttachedFile): Promise<Buffer> {
	// A request restored from the ledger (Resubmit) knows its files but cannot read them.
	if (typeof file.read !== 'function')
		throw new Error(
			`The file ${fileLabel(file)} is not kept in the ledger: send its item again through Submit (or LLM Batch Call) rather than Resubmit`,
		);
	return await file.read();
}

/** OpenAI chat-completions parts: `image_url` (a data URL) and `file` (PDF, base64 + filename). */
export function openAiFileParts(files: readonly LoadedFile[]): Array<Record<string, unknown>> {
	return files.map(({ file, base64 }) =>
		file.facts.kind === 'image'
			? {
					type: 'image_url',
					image_url: { url: `data:${file.facts.mimeType};base64,${base64}` },
				}
			: {
					type: 'file',
					file: {
						filename: file.fileName || `${file.property}.pdf`,
						file_data: `data:application/pdf;base64,${base64}`,
					},
				},
	);
}

/** Anthropic blocks: `image` and `document` (PDF), base64; `cacheControl` on the given block. */
export function anthropicFileBlock(
	{ file, base64 }: LoadedFile,
	cacheControl?: object,
): Record<string, unknown> {
	const source = { type: 'base64', media_type: file.facts.mimeType, data: base64 };
	return {
		type: file.facts.kind === 'image' ? 'image' : 'document',
		source,
		...(cacheControl ? { cache_control: cacheControl } : {}),
	};
}

/** Gemini `inlineData` parts (the Gemini provider calls this). */
export function geminiFileParts(files: readonly LoadedFile[]): Array<Record<string, unknown>> {
	return files.map(({ file, base64 }) => ({
		inlineData: { mimeType: file.facts.mimeType, data: base64 },
	}));
}

/** The files' identity in an answer's identity: their content, in order. */
export function attachmentsDigest(
	files: readonly AttachedFile[] | undefined,
): string[] | undefined {
	return files && files.length > 0 ? files.map((f) => f.sha256) : undefined;
}
