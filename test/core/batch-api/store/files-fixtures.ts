/**
 * What the kept-files tests share: how many distinct files a ledger holds, read straight from
 * its database (SQLite file or PostgreSQL), whichever node wrote them.
 */
import { DatabaseSync } from 'node:sqlite';

import { Client } from 'pg';

import { FILES_TABLE } from '../../../../core/batch-api/store/files-sql';

/** A ledger as the node tests configure it: its parameters and credentials. */
interface LedgerParams {
	params: Record<string, unknown>;
	credentials: Record<string, Record<string, unknown>>;
}

/** Distinct files (by content) stored in the ledger; 0 when it has no file table yet. */
export async function keptFileCount(ledger: LedgerParams): Promise<number> {
	const sql = `SELECT count(*) AS n FROM ${FILES_TABLE}`;
	if (ledger.params.ledgerStore === 'sqlite') {
		const db = new DatabaseSync(String(ledger.params.ledgerSqlitePath));
		try {
			return Number((db.prepare(sql).get() as { n: number }).n);
		} catch {
			return 0;
		} finally {
			db.close();
		}
	}
	const c = ledger.credentials.llmBatchPostgresApi;
	const client = new Client({
		host: String(c.host),
		port: Number(c.port),
		database: String(c.database),
		user: String(c.user),
		password: String(c.password),
	});
	await client.connect();
	try {
		return Number((await client.query<{ n: string }>(sql)).rows[0].n);
	} catch {
		return 0;
	} finally {
		await client.end();
	}
}
