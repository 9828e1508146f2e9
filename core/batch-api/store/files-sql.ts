/**
 * The files a submitted record's input item carried (its binary data), in the ledger beside its
 * payload: each distinct file once, by the sha256 of its bytes, in FILES_TABLE (the same PDF in
 * 500 records, or resubmitted, is stored once, whatever job refers to it); each record's binary
 * properties with their metadata in RECORD_FILES_TABLE, pointing at a file by its hash — or
 * saying why that file was not kept. The same DDL in both dialects but for the types.
 */
import type { KeptFileMeta } from '../files';

export const FILES_TABLE = 'llm_batch_ledger_files';
export const RECORD_FILES_TABLE = 'llm_batch_ledger_record_files';

/** The tables; `recordKey` as the entries' record ID, `bytesType` BLOB (SQLite) or BYTEA. */
export function keptFilesSchema(recordKey: string, bytesType: string): string {
	return `
CREATE TABLE IF NOT EXISTS ${FILES_TABLE} (
	sha256 TEXT NOT NULL PRIMARY KEY,
	size INTEGER NOT NULL,
	data ${bytesType} NOT NULL
);
CREATE TABLE IF NOT EXISTS ${RECORD_FILES_TABLE} (
	job TEXT NOT NULL,
	record_id ${recordKey} NOT NULL,
	property TEXT NOT NULL,
	ord INTEGER NOT NULL,
	sha256 TEXT,
	file_name TEXT,
	mime_type TEXT NOT NULL,
	file_extension TEXT,
	file_size TEXT,
	not_kept TEXT,
	PRIMARY KEY (job, record_id, property)
);
CREATE INDEX IF NOT EXISTS ${RECORD_FILES_TABLE}_sha256 ON ${RECORD_FILES_TABLE} (sha256);
`;
}

/** A record file row's columns, in the order `recordFileValues` gives them. */
export const RECORD_FILE_COLUMNS =
	'property, ord, sha256, file_name, mime_type, file_extension, file_size, not_kept';

export interface RecordFileDbRow {
	record_id: string;
	property: string;
	ord: number | string;
	sha256: string | null;
	file_name: string | null;
	mime_type: string;
	file_extension: string | null;
	file_size: string | null;
	not_kept: string | null;
}

/** A record file row's values for `RECORD_FILE_COLUMNS`. */
export function recordFileValues(f: KeptFileMeta, position: number): Array<string | number | null> {
	return [
		f.property,
		position,
		f.sha256 ?? null,
		f.fileName ?? null,
		f.mimeType,
		f.fileExtension ?? null,
		f.fileSize ?? null,
		f.notKept ?? null,
	];
}

/** The rows of some records, by record ID, each record's files in the order they were on its item. */
export function toRecordFiles(rows: readonly RecordFileDbRow[]): Map<string, KeptFileMeta[]> {
	const out = new Map<string, Array<{ ord: number; file: KeptFileMeta }>>();
	for (const r of rows) {
		let list = out.get(r.record_id);
		if (!list) out.set(r.record_id, (list = []));
		list.push({
			ord: Number(r.ord),
			file: {
				property: r.property,
				mimeType: r.mime_type,
				...(r.file_name === null ? {} : { fileName: r.file_name }),
				...(r.file_extension === null ? {} : { fileExtension: r.file_extension }),
				...(r.file_size === null ? {} : { fileSize: r.file_size }),
				...(r.sha256 === null ? {} : { sha256: r.sha256 }),
				...(r.not_kept === null ? {} : { notKept: r.not_kept }),
			},
		});
	}
	const sorted = new Map<string, KeptFileMeta[]>();
	for (const [id, list] of out)
		sorted.set(
			id,
			list.sort((a, b) => a.ord - b.ord).map((f) => f.file),
		);
	return sorted;
}

/** Files no record of any job refers to any more (a job deleted, a record's files replaced). */
export const UNREFERENCED_FILES = `DELETE FROM ${FILES_TABLE} WHERE NOT EXISTS
	(SELECT 1 FROM ${RECORD_FILES_TABLE} r WHERE r.sha256 = ${FILES_TABLE}.sha256)`;
