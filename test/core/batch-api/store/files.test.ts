/**
 * A record's kept files in the batch-job store: written with its entry and payload in one
 * transaction, each distinct file once by its sha256 whatever number of records or jobs carry
 * it, a record's files replaced by its next submission (left as they are when the submission
 * names none, as Resubmit's), and swept by Delete Job once no record of any job refers to them
 * — SQLite and PostgreSQL. And what core keeps of a file, and why it did not keep one.
 */
import { describe, expect, it } from 'vitest';

import type { BatchEntry } from '../../../../core/batch-api/store/batches';
import { batchStoreFor } from '../../../../core/batch-api/store/factory';
import {
	MAX_KEPT_FILE_BYTES,
	NOT_KEPT_OFF,
	filesToKeep,
	sha256Of,
	type KeptFile,
} from '../../../../core/batch-api/files';
import { FILES_TABLE } from '../../../../core/batch-api/store/files-sql';
import { SqliteLedgerStore } from '../../../../core/ledger/sqlite';
import type { PostgresLedgerStore } from '../../../../core/ledger/postgres';
import type { LedgerStore } from '../../../../core/ledger/types';
import {
	T0,
	openedStores,
	postgresFactory,
	sqliteFactory,
	type StoreFactory,
} from '../../ledger/fixtures';
import { DatabaseSync } from 'node:sqlite';

const PENDING = 'pending:abcdefghijkl:x';

function entry(recordId: string, files?: KeptFile[]): BatchEntry {
	return {
		recordId,
		customId: `abcdefghijkl-${recordId}`,
		batchId: PENDING,
		promptHash: `h-${recordId}`,
		request: JSON.stringify({ model: 'gpt-4o-mini', prompt: `p ${recordId}`, maxTokens: 5 }),
		item: JSON.stringify({ id: recordId }),
		itemIndex: 0,
		round: 1,
		emitted: false,
		submittedAt: T0,
		...(files ? { files } : {}),
	};
}

const pdf = Buffer.from('%PDF-1.4\n% the same invoice\n%%EOF\n');
const png = Buffer.from('\x89PNG\r\n\x1a\n a thumbnail', 'latin1');

const kept = (property: string, bytes: Buffer, fileName: string, mimeType: string): KeptFile => ({
	property,
	fileName,
	mimeType,
	fileExtension: fileName.split('.').pop(),
	fileSize: `${bytes.length} B`,
	sha256: sha256Of(bytes),
	bytes,
});

const meta = ({ bytes: _bytes, ...f }: KeptFile) => f;

async function fileCount(store: LedgerStore): Promise<number> {
	const sql = `SELECT count(*) AS n FROM ${FILES_TABLE}`;
	if (store instanceof SqliteLedgerStore) {
		const db = new DatabaseSync(store.path);
		try {
			return Number((db.prepare(sql).get() as { n: number }).n);
		} finally {
			db.close();
		}
	}
	return Number((await (store as PostgresLedgerStore).pool.query(sql)).rows[0].n);
}

describe.each([sqliteFactory, postgresFactory] as StoreFactory[])(
	'kept files in the batch-job store: $name',
	(factory) => {
		const stores = openedStores(factory);

		it('the same file in two records (and two jobs) is stored once; each record reads back its own metadata in order', async () => {
			const store = await stores.fresh();
			const batches = batchStoreFor(store);
			await batches.init();
			const a = [
				kept('data', pdf, 'a.pdf', 'application/pdf'),
				kept('thumb', png, 't.png', 'image/png'),
			];
			const b = [kept('data', pdf, 'b.pdf', 'application/pdf')];
			await batches.addPending('job', PENDING, [entry('r1', a), entry('r2', b)]);
			await batches.addPending('other', PENDING, [entry('r9', b)]);
			expect(await fileCount(store)).toBe(2);
			const files = await batches.recordFiles('job', ['r1', 'r2', 'none']);
			expect(Object.fromEntries(files)).toEqual({ r1: a.map(meta), r2: b.map(meta) });
			expect(await batches.fileBytes(sha256Of(pdf))).toEqual(pdf);
			expect(await batches.fileBytes(sha256Of(Buffer.from('never stored')))).toBeUndefined();
		});

		it("a record's next submission replaces its files; one naming none (Resubmit) leaves them; a file not kept says why", async () => {
			const store = await stores.fresh();
			const batches = batchStoreFor(store);
			await batches.init();
			await batches.addPending('job', PENDING, [
				entry('r1', [kept('data', pdf, 'a.pdf', 'application/pdf')]),
			]);
			const note: KeptFile = {
				property: 'scan',
				fileName: 'scan.png',
				mimeType: 'image/png',
				notKept: NOT_KEPT_OFF,
			};
			await batches.addPending('job', PENDING, [entry('r1', [note])]);
			expect((await batches.recordFiles('job', ['r1'])).get('r1')).toEqual([note]);
			await batches.addPending('job', PENDING, [entry('r1')]);
			expect((await batches.recordFiles('job', ['r1'])).get('r1')).toEqual([note]);
			await batches.addPending('job', PENDING, [entry('r1', [])]);
			expect((await batches.recordFiles('job', ['r1'])).has('r1')).toBe(false);
		});

		it('Delete Job removes the files only its records referred to, and any no record refers to', async () => {
			const store = await stores.fresh();
			const batches = batchStoreFor(store);
			await batches.init();
			await batches.addPending('job', PENDING, [
				entry('r1', [kept('data', pdf, 'a.pdf', 'application/pdf')]),
				entry('r2', [kept('data', png, 'p.png', 'image/png')]),
			]);
			await batches.addPending('other', PENDING, [
				entry('r9', [kept('data', pdf, 'a.pdf', 'application/pdf')]),
			]);
			expect(await batches.deleteJob('job')).toEqual({ batches: 0, files: 1 });
			expect(await batches.fileBytes(sha256Of(pdf))).toEqual(pdf);
			expect(await batches.fileBytes(sha256Of(png))).toBeUndefined();
			expect(await batches.deleteJob('other')).toEqual({ batches: 0, files: 1 });
			expect(await fileCount(store)).toBe(0);
		});

		it("Delete Job racing another job's Submit of the same file never takes the file from under it", async () => {
			const store = await stores.fresh();
			const batches = batchStoreFor(store);
			await batches.init();
			// Another process's store on the same database: its own connections.
			const other = batchStoreFor(await stores.second(store));
			await other.init();
			let lost = 0;
			for (let round = 0; round < 30; round++) {
				const file = Buffer.from(`%PDF-1.4\n% shared ${round}\n%%EOF\n`);
				await batches.addPending('a', PENDING, [
					entry('r1', [kept('data', file, 'f.pdf', 'application/pdf')]),
				]);
				await Promise.all([
					batches.deleteJob('a'),
					other.addPending('b', PENDING, [
						entry(`r${round}`, [kept('data', file, 'f.pdf', 'application/pdf')]),
					]),
				]);
				if (!(await batches.fileBytes(sha256Of(file)))) lost++;
			}
			expect(lost).toBe(0);
			expect(await fileCount(store)).toBe(30);
		});
	},
);

describe('what Submit keeps of a record’s binary data', () => {
	const source = (property: string, read: () => Promise<Buffer>) => ({
		property,
		fileName: `${property}.bin`,
		mimeType: 'application/octet-stream',
		read,
	});
	const about = (property: string) => ({
		property,
		fileName: `${property}.bin`,
		mimeType: 'application/octet-stream',
	});

	it('every property, by its content hash; an unreadable or oversized file, and Keep Files off, say why', async () => {
		const big = Buffer.alloc(MAX_KEPT_FILE_BYTES + 1);
		const files = await filesToKeep(
			[
				source('data', async () => pdf),
				source('gone', async () => Promise.reject(new Error('no such file in S3'))),
				source('video', async () => big),
			],
			true,
		);
		expect(files).toEqual([
			{ ...about('data'), sha256: sha256Of(pdf), bytes: pdf },
			{
				...about('gone'),
				notKept: 'It could not be read when it was submitted (no such file in S3)',
			},
			{
				...about('video'),
				notKept:
					'It is 64.0 MB (67,108,865 bytes), over the 64 MB a file kept for Collect may be: keep it elsewhere (e.g. Write Files) and find it by record ID',
			},
		]);
		let reads = 0;
		const off = await filesToKeep(
			[
				source('data', async () => {
					reads++;
					return pdf;
				}),
			],
			false,
		);
		expect(off).toEqual([{ ...about('data'), notKept: NOT_KEPT_OFF }]);
		expect(reads).toBe(0);
	});
});
