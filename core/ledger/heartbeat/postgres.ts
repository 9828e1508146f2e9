/** The heartbeat tables in the PostgreSQL ledger, on the records store's pool. */
import type { PoolClient } from 'pg';

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
import { heartbeatSchema, POSTGRES_TYPES } from '../schema';
import type { PostgresConnections } from '../postgres-connections';
import { PostgresTables } from '../postgres-tables';
import { HEARTBEATS_TABLE, SAMPLES_TABLE } from '../sql';

const SCHEMA = heartbeatSchema(POSTGRES_TYPES);

/** Serialises concurrent creation of these tables. */
const SCHEMA_LOCK_KEY = 740_305_120;

const params = (n: number, from = 1) =>
	Array.from({ length: n }, (_, i) => `$${i + from}`).join(', ');

export class PostgresHeartbeatStore extends PostgresTables implements HeartbeatStore {
	constructor(db: PostgresConnections) {
		super(db, SCHEMA, SCHEMA_LOCK_KEY);
	}

	async beat(b: HeartbeatRow): Promise<void> {
		await this.init();
		// One try: the next beat (an interval later) carries newer counters anyway, and a run
		// never waits for its heartbeat (core/status/heartbeat.ts logs the failure once).
		await this.tx(
			'record a heartbeat',
			async (c) => {
				const taken = await c.query(
					`INSERT INTO ${HEARTBEATS_TABLE} (${HEARTBEAT_COLUMNS}) VALUES (${params(21)})
				 ON CONFLICT (job, run) DO UPDATE SET ${HEARTBEAT_UPDATE} ${keepNewest(HEARTBEATS_TABLE)}
				 RETURNING execution`,
					heartbeatValues(b),
				);
				if (taken.rowCount === 0) return;
				await c.query(
					`INSERT INTO ${SAMPLES_TABLE} (${SAMPLE_COLUMNS}) VALUES (${params(8)})
				 ON CONFLICT (job, at, run) DO NOTHING`,
					sampleValues(b),
				);
				await this.thin(c, b.job);
			},
			{ once: true },
		);
	}

	private async thin(c: PoolClient, job: string): Promise<void> {
		const { rows } = await c.query<{ n: string }>(
			`SELECT count(*) AS n FROM ${SAMPLES_TABLE} WHERE job = $1`,
			[job],
		);
		const drop = samplesToThin(Number(rows[0].n));
		if (drop.length === 0) return;
		const keys = await c.query<{ at: Date; run: string }>(
			`SELECT at, run FROM ${SAMPLES_TABLE} WHERE job = $1 ORDER BY at, run`,
			[job],
		);
		const picked = drop.map((i) => keys.rows[i]);
		await c.query(
			`DELETE FROM ${SAMPLES_TABLE} s USING unnest($2::timestamptz[], $3::text[]) AS d(at, run)
			 WHERE s.job = $1 AND s.at = d.at AND s.run = d.run`,
			[job, picked.map((k) => k.at), picked.map((k) => k.run)],
		);
	}

	async read(job: string) {
		await this.init();
		const [beats, samples] = await Promise.all([
			this.db.query<HeartbeatDbRow>(
				'read heartbeats',
				`SELECT * FROM ${HEARTBEATS_TABLE} WHERE job = $1 ORDER BY started_at, run`,
				[job],
			),
			this.db.query<SampleDbRow>(
				'read heartbeats',
				`SELECT ${SAMPLE_COLUMNS} FROM ${SAMPLES_TABLE} WHERE job = $1 ORDER BY at, run`,
				[job],
			),
		]);
		return { beats: beats.rows.map(toHeartbeat), samples: samples.rows.map(toSample) };
	}

	async deleteJob(job: string): Promise<void> {
		await this.init();
		await this.tx('delete heartbeats', async (c) => {
			await c.query(`DELETE FROM ${HEARTBEATS_TABLE} WHERE job = $1`, [job]);
			await c.query(`DELETE FROM ${SAMPLES_TABLE} WHERE job = $1`, [job]);
		});
	}
}
