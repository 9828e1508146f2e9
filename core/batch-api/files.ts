/**
 * A submitted record's files (its input item's binary data) kept in the ledger, so the record
 * leaves a Collect of any later execution as it went in, and Resubmit can send its documents
 * again. What is kept is decided here: every binary property of the item (the files it was
 * sent with and the others), each file once by the sha256 of its bytes, written in the same
 * transaction as the record's payload (submit.ts). A file that is not kept says why, per record.
 */
import { createHash } from 'node:crypto';

import type { AttachedFile } from '../call/attachments';
import type { ChatRequest } from '../call/providers/types';
import type { JobContext } from './job-context';

/** Kept files given back per this many records (then the Collect's leases are renewed). */
const FILES_PAGE = 200;

/** A binary property of a record's input item as the node hands it over: metadata and a reader. */
export interface RecordBinary {
	property: string;
	fileName?: string;
	mimeType: string;
	fileExtension?: string;
	/** n8n's own wording of the size (e.g. `12.3 kB`), given back as it was. */
	fileSize?: string;
	/** The bytes (n8n may keep them in memory, on disk or in S3); read once, when the record is stored. */
	read: () => Promise<Buffer>;
}

/** A record's binary property as the ledger keeps it: metadata, and its file's hash or why it was not kept. */
export interface KeptFileMeta {
	property: string;
	fileName?: string;
	mimeType: string;
	fileExtension?: string;
	fileSize?: string;
	/** sha256 (hex) of the bytes, stored once in the ledger's file table. */
	sha256?: string;
	/** Why the bytes were not kept (then no sha256). */
	notKept?: string;
}

/** As written with the record's payload: a kept file carries its bytes. */
export type KeptFile = KeptFileMeta & { bytes?: Buffer };

/**
 * The largest file kept. Files the providers read are far below it (OpenAI takes 50 MB per
 * request); a larger binary property (a video beside the invoice) would make every ledger
 * write of its record a copy of it, so it is left out, and its record says so.
 */
export const MAX_KEPT_FILE_BYTES = 64 * 1024 * 1024;

export const NOT_KEPT_OFF = 'Keep Files for Collect was off when it was submitted';

const mb = (bytes: number) => `${(bytes / (1024 * 1024)).toFixed(1)} MB`;

/** The record's binary properties as the ledger keeps them, each file read once (one at a time). */
export async function filesToKeep(
	binary: readonly RecordBinary[],
	keep: boolean,
): Promise<KeptFile[]> {
	const out: KeptFile[] = [];
	for (const { read, ...meta } of binary) {
		if (!keep) {
			out.push({ ...meta, notKept: NOT_KEPT_OFF });
			continue;
		}
		let bytes: Buffer;
		try {
			bytes = await read();
		} catch (e) {
			out.push({
				...meta,
				notKept: `It could not be read when it was submitted (${(e as Error).message})`,
			});
			continue;
		}
		if (bytes.length > MAX_KEPT_FILE_BYTES) {
			out.push({
				...meta,
				notKept: `It is ${mb(bytes.length)} (${bytes.length.toLocaleString('en-US')} bytes), over the ${MAX_KEPT_FILE_BYTES / (1024 * 1024)} MB a file kept for Collect may be: keep it elsewhere (e.g. Write Files) and find it by record ID`,
			});
			continue;
		}
		out.push({ ...meta, sha256: sha256Of(bytes), bytes });
	}
	return out;
}

export const sha256Of = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

/** Bytes a piece of the intent holds for these files (submit.ts cuts its writes by size). */
export const keptBytes = (files: readonly KeptFile[] | undefined) =>
	(files ?? []).reduce((n, f) => n + (f.bytes?.length ?? 0), 0);

/** A file that does not come back with its record, and why. */
export interface FileNote {
	property: string;
	fileName?: string;
	reason: string;
}

const noteOf = (f: KeptFileMeta, reason: string): FileNote => ({
	property: f.property,
	...(f.fileName === undefined ? {} : { fileName: f.fileName }),
	reason,
});

/** The files not kept for a reason the user did not choose (Keep Files off), as notes. */
export function notKeptNotes(files: readonly KeptFile[] | undefined): FileNote[] {
	return (files ?? []).flatMap((f) =>
		f.notKept === undefined || f.notKept === NOT_KEPT_OFF ? [] : [noteOf(f, f.notKept)],
	);
}

/** A record's files as Collect gives them back. */
export interface ReturnedFiles {
	recordId: string;
	files: Array<Omit<KeptFileMeta, 'notKept'> & { bytes: Buffer }>;
	notKept: FileNote[];
}

/**
 * The kept files of these records, a record at a time (only one record's bytes held), in the
 * order the records are given; a record the ledger keeps no binary for is not yielded.
 */
export async function* keptFilesOf(
	ctx: JobContext,
	recordIds: readonly string[],
): AsyncIterable<ReturnedFiles> {
	const metas = await ctx.batches.recordFiles(ctx.job, recordIds);
	for (const recordId of recordIds) {
		const list = metas.get(recordId);
		if (!list || list.length === 0) continue;
		const out: ReturnedFiles = { recordId, files: [], notKept: [] };
		for (const f of list) {
			const { notKept, sha256, ...meta } = f;
			const bytes = sha256 === undefined ? undefined : await ctx.batches.fileBytes(sha256);
			if (bytes) out.files.push({ ...meta, sha256, bytes });
			else
				out.notKept.push(
					noteOf(f, notKept ?? 'Its file is no longer in the ledger (was the job deleted?)'),
				);
		}
		yield out;
	}
}

/**
 * The request of a record sent with files, its files read from the ledger again (Resubmit):
 * undefined when one of them was not kept.
 */
export function withKeptAttachments(
	ctx: JobContext,
	request: ChatRequest,
	kept: readonly KeptFileMeta[] | undefined,
): ChatRequest | undefined {
	const files = request.attachments;
	if (!files || files.length === 0) return request;
	const stored = new Set((kept ?? []).flatMap((f) => (f.sha256 ? [f.sha256] : [])));
	if (!files.every((f) => stored.has(f.sha256))) return undefined;
	const attachments: AttachedFile[] = files.map((f) => ({
		...f,
		read: async () => {
			const bytes = await ctx.batches.fileBytes(f.sha256);
			if (!bytes)
				throw new Error(
					`The file ${f.property} (${f.fileName}) is no longer in the ledger: send its item again through Submit`,
				);
			return bytes;
		},
	}));
	return { ...request, attachments };
}

/** Where Collect gives records their files: the node's items (see collect.ts `files`). */
export interface FilesSink {
	/** The records emitted since the last call that want their files (each once). */
	take(): string[];
	attach(files: ReturnedFiles): Promise<void>;
}

/** Every record `sink` asks for gets its kept files, a page at a time, `renew` after each page. */
export async function giveFilesBack(
	ctx: JobContext,
	sink: FilesSink | undefined,
	renew: () => Promise<void>,
): Promise<void> {
	if (!sink) return;
	const ids = sink.take();
	for (let i = 0; i < ids.length; i += FILES_PAGE) {
		for await (const files of keptFilesOf(ctx, ids.slice(i, i + FILES_PAGE)))
			await sink.attach(files);
		await renew();
	}
}
