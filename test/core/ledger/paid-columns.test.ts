/**
 * The job totals sum each record's paid numbers from columns the final write fills, not from
 * the record's JSON. A ledger written before those columns keeps its numbers: opening it adds
 * the columns (NULL on its rows, read from the JSON) and the new rows written after are summed
 * with the old ones. Both stores; the job budget reads the same total.
 */
import { mkdtempSync } from 'node:fs';
import { DatabaseSync } from 'node:sqlite';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { Client } from 'pg';
import { describe, expect, it } from 'vitest';

import { PostgresLedgerStore } from '../../../core/ledger/postgres';
import { PAID_COLUMNS, RECORDS_TABLE } from '../../../core/ledger/sql';
import { SqliteLedgerStore } from '../../../core/ledger/sqlite';
import type { LedgerStore } from '../../../core/ledger/types';
import type { ItemError } from '../../../core/types';
import { createTestDatabase } from '../../helpers/postgres';
import { T0, T1, T2, result } from './fixtures';

const until = (ms: number) => new Date(Date.parse(T0) + ms).toISOString();

/** The records table and its index as the release before the paid columns created them. */
const PREVIOUS_SCHEMA = (t: { json: string; time: string; real: string; count: string }) => `
CREATE TABLE ${RECORDS_TABLE} (
	job TEXT NOT NULL,
	record_id TEXT NOT NULL,
	status TEXT NOT NULL,
	attempts INTEGER NOT NULL DEFAULT 0,
	prompt_hash TEXT NOT NULL DEFAULT '',
	last_error ${t.json},
	result ${t.json},
	created_at ${t.time} NOT NULL,
	updated_at ${t.time} NOT NULL,
	lease_owner TEXT,
	lease_until ${t.time},
	prior_cost_usd ${t.real} NOT NULL DEFAULT 0,
	prior_input_tokens ${t.count} NOT NULL DEFAULT 0,
	prior_output_tokens ${t.count} NOT NULL DEFAULT 0,
	PRIMARY KEY (job, record_id)
);
CREATE INDEX ${RECORDS_TABLE}_status ON ${RECORDS_TABLE} (job, status, updated_at);`;

const answer = (
	id: string,
	usd: number,
	inputTokens: number,
	outputTokens: number,
	cached = false,
) =>
	JSON.stringify(result(id, 'h', { costUsd: usd, usage: { inputTokens, outputTokens }, cached }));
const error = (usd?: number, inputTokens?: number, outputTokens?: number) =>
	JSON.stringify({
		code: 'schema_violation',
		message: 'the answer broke the schema',
		retryable: false,
		attempts: 1,
		...(usd === undefined ? {} : { costUsd: usd, usage: { inputTokens, outputTokens } }),
	});

/**
 * Rows as the previous release wrote them: a paid success; a response-cache hit (nothing
 * spent); a paid failure; a failure that paid nothing; a record claimed again after a paid
 * failure (folded into the prior columns; its old error no longer counts); a pending record.
 */
const PREVIOUS_ROWS: Array<[string, string, string | null, string | null, number, number, number]> =
	[
		['a', 'succeeded', null, answer('a', 0.5, 100, 40), 0, 0, 0],
		['b', 'succeeded', null, answer('b', 0.25, 10, 5, true), 0, 0, 0],
		['c', 'failed', error(0.125, 20, 8), null, 0, 0, 0],
		['d', 'failed', error(), null, 0, 0, 0],
		['e', 'processing', error(0.0625, 4, 2), null, 0.0625, 4, 2],
		['f', 'pending', null, null, 0, 0, 0],
	];

async function insertRows(
	sql: (text: string, values: unknown[]) => unknown,
	placeholders: string[],
): Promise<void> {
	for (const [id, status, lastError, answered, cost, input, output] of PREVIOUS_ROWS) {
		await sql(
			`INSERT INTO ${RECORDS_TABLE} (job, record_id, status, attempts, prompt_hash, last_error, result,
			 created_at, updated_at, prior_cost_usd, prior_input_tokens, prior_output_tokens)
			 VALUES (${placeholders.join(', ')})`,
			['job', id, status, 1, 'h', lastError, answered, T0, T0, cost, input, output],
		);
	}
}

const paidFailure = (usd: number, inputTokens: number, outputTokens: number): ItemError => ({
	code: 'schema_violation',
	message: 'the answer broke the schema',
	retryable: false,
	attempts: 2,
	usage: { inputTokens, outputTokens },
	costUsd: usd,
});

/**
 * Opens the previous release's ledger, checks its totals, then writes new outcomes beside the
 * old rows (new records; an old failure claimed again and answered; the old processing record
 * answered) and checks the totals add both up. `paidColumns` reads the paid columns by record.
 */
async function upgradeAndAdd(
	store: LedgerStore,
	paidColumns: () => Promise<Map<string, Array<number | null>>>,
	indexes: () => Promise<string[]>,
): Promise<void> {
	try {
		await store.init();
		// The covering index replaces the previous release's index on the same keys.
		expect((await indexes()).filter((name) => name.startsWith(`${RECORDS_TABLE}_`)).sort()).toEqual(
			[`${RECORDS_TABLE}_totals`, `${RECORDS_TABLE}_unpaid`],
		);
		const before = await store.stats('job');
		expect(before).toMatchObject({
			total: 6,
			succeeded: 2,
			failed: 2,
			processing: 1,
			pending: 1,
			attempts: 6,
			costUsd: 0.5 + 0.125 + 0.0625,
			inputTokens: 100 + 20 + 4,
			outputTokens: 40 + 8 + 2,
			errorsByCode: { schema_violation: 2 },
		});
		// Read from their JSON: the old rows' columns are left empty.
		expect([...(await paidColumns()).values()].flat()).toEqual(Array(18).fill(null));

		await store.claim(
			'job',
			['g', 'h', 'c'].map((recordId) => ({ recordId, promptHash: 'h' })),
			'new',
			T1,
			until(120_000),
		);
		await store.writeBatch('job', [
			{ type: 'succeeded', result: result('g', 'h', { costUsd: 2 }), at: T2 },
			{ type: 'failed', recordId: 'h', promptHash: 'h', error: paidFailure(0.25, 30, 12), at: T2 },
			{ type: 'succeeded', result: result('c', 'h', { costUsd: 1 }), at: T2 },
			{ type: 'succeeded', result: result('e', 'h', { costUsd: 0.5 }), at: T2 },
		]);
		const after = await store.stats('job');
		// Old a 0.5; c's old failure 0.125 kept apart and its answer 1; e's prior 0.0625 and its
		// answer 0.5; new g 2 and h 0.25. New results carry 10 input and 5 output tokens.
		expect(after).toMatchObject({
			total: 8,
			succeeded: 5,
			failed: 2,
			processing: 0,
			pending: 1,
			costUsd: 0.5 + 0.125 + 1 + 0.0625 + 0.5 + 2 + 0.25,
			inputTokens: 100 + 20 + 10 + 4 + 10 + 10 + 30,
			outputTokens: 40 + 8 + 5 + 2 + 5 + 5 + 12,
			errorsByCode: { schema_violation: 2 },
		});
		const columns = await paidColumns();
		expect(Object.fromEntries(columns)).toEqual({
			a: [null, null, null],
			b: [null, null, null],
			c: [1, 10, 5],
			d: [null, null, null],
			e: [0.5, 10, 5],
			f: [null, null, null],
			g: [2, 10, 5],
			h: [0.25, 30, 12],
		});
		// The job budget reads the same total when it has none cached.
		const verdict = await store.reserveSpend('job', {
			ticket: 't',
			owner: 'new',
			usd: 0,
			capUsd: 100,
			at: T2,
			reservedUntil: until(300_000),
		});
		expect(verdict.recordsPaid?.usd).toBe(after.costUsd);
	} finally {
		await store.close();
	}
}

const byRecord = (rows: Array<Record<string, unknown>>) =>
	new Map(
		rows.map((r) => [
			String(r.record_id),
			PAID_COLUMNS.map((c) => (r[c] === null ? null : Number(r[c]))),
		]),
	);
const SELECT_PAID = `SELECT record_id, ${PAID_COLUMNS.join(', ')} FROM ${RECORDS_TABLE} ORDER BY record_id`;

describe('a ledger written before the paid columns', () => {
	it('SQLite: its rows keep their totals, read from the JSON, and add up with rows written after', async () => {
		const path = join(mkdtempSync(join(tmpdir(), 'ledger-paid-')), 'previous.sqlite');
		const previous = new DatabaseSync(path);
		previous.exec(PREVIOUS_SCHEMA({ json: 'TEXT', time: 'TEXT', real: 'REAL', count: 'INTEGER' }));
		await insertRows(
			(text, values) => previous.prepare(text).run(...(values as Array<string | number | null>)),
			Array(12).fill('?'),
		);
		previous.close();
		const read = async (sql: string) => {
			const db = new DatabaseSync(path);
			try {
				return db.prepare(sql).all() as Array<Record<string, unknown>>;
			} finally {
				db.close();
			}
		};
		await upgradeAndAdd(
			new SqliteLedgerStore({ kind: 'sqlite', path }),
			async () => byRecord(await read(SELECT_PAID)),
			async () =>
				(await read(`SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL`)).map(
					(r) => String(r.name),
				),
		);
	});

	it('PostgreSQL: its rows keep their totals, read from the JSON, and add up with rows written after', async () => {
		const db = await createTestDatabase('ledger_paid');
		const client = new Client(db);
		await client.connect();
		try {
			await client.query(
				PREVIOUS_SCHEMA({
					json: 'JSONB',
					time: 'TIMESTAMPTZ',
					real: 'DOUBLE PRECISION',
					count: 'BIGINT',
				}),
			);
			await insertRows(
				(text, values) => client.query(text, values),
				Array.from({ length: 12 }, (_, i) => `$${i + 1}`),
			);
			await upgradeAndAdd(
				new PostgresLedgerStore({ kind: 'postgres', ...db }),
				async () => byRecord((await client.query(SELECT_PAID)).rows),
				async () =>
					(
						await client.query<{ name: string }>(
							`SELECT indexname AS name FROM pg_indexes WHERE tablename = '${RECORDS_TABLE}' AND indexname NOT LIKE '%_pkey'`,
						)
					).rows.map((r) => r.name),
			);
		} finally {
			await client.end();
		}
	});
});
