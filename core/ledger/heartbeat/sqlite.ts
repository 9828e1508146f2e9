/**
 * The heartbeat tables in the SQLite ledger file, on a connection of their own with a short
 * lock wait: node:sqlite is synchronous, so a beat waiting on another process's write lock
 * would hold the event loop of the run it reports on. A beat that cannot get the lock fails
 * (the writer skips it; the next one tries again).
 */
import type { DatabaseSync } from 'node:sqlite';

import {
	HEARTBEAT_COLUMNS,
	HEARTBEAT_UPDATE,
	heartbeatValues,
	keepNewest,
	SAMPLE_COLUMNS,
	sampleValues,
	toHeartbeat,
	toSample,
	type HeartbeatDbRow,
	type SampleDbRow,
} from './rows';
import { samplesToThin, type HeartbeatRow, type HeartbeatStore } from './types';
import { heartbeatSchema, SQLITE_TYPES } from '../schema';
import { HEARTBEATS_TABLE, SAMPLES_TABLE } from '../sql';
import { SqliteTables } from '../sqlite-tables';

const SCHEMA = heartbeatSchema(SQLITE_TYPES);

/** Longest a beat waits for the file's write lock. */
const BEAT_LOCK_WAIT_MS = 100;

export class SqliteHeartbeatStore extends SqliteTables implements HeartbeatStore {
	constructor(path: string, label: string) {
		super(path, label, BEAT_LOCK_WAIT_MS);
	}

	protected setUp(db: DatabaseSync): void {
		db.exec(SCHEMA);
	}

	async beat(b: HeartbeatRow): Promise<void> {
		await this.init();
		this.run(
			'record a heartbeat',
			() => {
				const taken = this.stmt(
					`INSERT INTO ${HEARTBEATS_TABLE} (${HEARTBEAT_COLUMNS})
					 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
					 ON CONFLICT (job, run) DO UPDATE SET ${HEARTBEAT_UPDATE} ${keepNewest(HEARTBEATS_TABLE)}
					 RETURNING execution`,
				).get(...heartbeatValues(b));
				if (!taken) return;
				this.stmt(
					`INSERT INTO ${SAMPLES_TABLE} (${SAMPLE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
					 ON CONFLICT (job, at, run) DO NOTHING`,
				).run(...sampleValues(b));
				this.thin(b.job);
			},
			true,
		);
	}

	private thin(job: string): void {
		const { n } = this.stmt(`SELECT count(*) AS n FROM ${SAMPLES_TABLE} WHERE job = ?`).get(
			job,
		) as { n: number };
		const drop = samplesToThin(Number(n));
		if (drop.length === 0) return;
		const keys = this.stmt(
			`SELECT at, run FROM ${SAMPLES_TABLE} WHERE job = ? ORDER BY at, run`,
		).all(job) as Array<{ at: string; run: string }>;
		const del = this.stmt(`DELETE FROM ${SAMPLES_TABLE} WHERE job = ? AND at = ? AND run = ?`);
		for (const i of drop) del.run(job, keys[i].at, keys[i].run);
	}

	async read(job: string) {
		await this.init();
		return this.run('read heartbeats', () => ({
			beats: (
				this.stmt(`SELECT * FROM ${HEARTBEATS_TABLE} WHERE job = ? ORDER BY started_at, run`).all(
					job,
				) as unknown as HeartbeatDbRow[]
			).map(toHeartbeat),
			samples: (
				this.stmt(
					`SELECT ${SAMPLE_COLUMNS} FROM ${SAMPLES_TABLE} WHERE job = ? ORDER BY at, run`,
				).all(job) as unknown as SampleDbRow[]
			).map(toSample),
		}));
	}

	async deleteJob(job: string): Promise<void> {
		await this.init();
		this.run(
			'delete heartbeats',
			() => {
				this.stmt(`DELETE FROM ${HEARTBEATS_TABLE} WHERE job = ?`).run(job);
				this.stmt(`DELETE FROM ${SAMPLES_TABLE} WHERE job = ?`).run(job);
			},
			true,
		);
	}
}
