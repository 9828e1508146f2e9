/**
 * A throw-away PostgreSQL 15 cluster for the tests: initdb into a temp folder, start on a free
 * loopback port, stop and delete afterwards. Local (socket) connections are trusted; TCP
 * connections need the password (scram-sha-256), so a wrong password is really rejected.
 * initdb refuses to run as root, so when we are root the server runs as the `postgres` user.
 */
import { execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

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

const PASSWORD = 'ledger-test-password';

export function findPostgresBin(): string | undefined {
	const candidates = [
		process.env.PG_BIN,
		'/usr/lib/postgresql/15/bin',
		'/usr/lib/postgresql/16/bin',
		'/usr/lib/postgresql/17/bin',
		'/usr/lib/postgresql/14/bin',
	];
	return candidates.find(
		(dir): dir is string =>
			!!dir && existsSync(join(dir, 'initdb')) && existsSync(join(dir, 'pg_ctl')),
	);
}

async function freePort(): Promise<number> {
	return new Promise((resolve, reject) => {
		const server = createServer();
		server.unref();
		server.on('error', reject);
		server.listen(0, '127.0.0.1', () => {
			const address = server.address();
			const port = typeof address === 'object' && address ? address.port : 0;
			server.close(() => resolve(port));
		});
	});
}

function postgresUid(): { uid: number; gid: number } | undefined {
	if (process.getuid?.() !== 0) return undefined;
	const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
	const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
	return { uid, gid };
}

function runAs(asPostgres: boolean, bin: string, args: string[]): void {
	const [file, argv] = asPostgres
		? ['runuser', ['-u', 'postgres', '--', bin, ...args]]
		: [bin, args];
	execFileSync(file, argv, { stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000 });
}

export async function startPostgres(): Promise<TestPostgres> {
	const bin = findPostgresBin();
	if (!bin) {
		throw new Error(
			'PostgreSQL server binaries not found (looked in $PG_BIN and /usr/lib/postgresql/<15|16|17|14>/bin). ' +
				'Install them (Debian: apt-get install postgresql-15) — the ledger tests need a real server.',
		);
	}
	const owner = postgresUid();
	const dir = mkdtempSync(join(tmpdir(), 'llm-batch-pg-'));
	const data = join(dir, 'data');
	const pwfile = join(dir, 'pwfile');
	writeFileSync(pwfile, `${PASSWORD}\n`);
	if (owner) {
		chownSync(dir, owner.uid, owner.gid);
		chownSync(pwfile, owner.uid, owner.gid);
	}
	const port = await freePort();
	const host = '127.0.0.1';
	const pg: TestPostgres = {
		host,
		port,
		user: 'postgres',
		password: PASSWORD,
		database: 'postgres',
		dir,
		url: `postgres://postgres:${PASSWORD}@${host}:${port}/postgres`,
	};
	try {
		runAs(!!owner, join(bin, 'initdb'), [
			'-D',
			data,
			'-U',
			'postgres',
			'--pwfile',
			pwfile,
			'--auth-local=trust',
			'--auth-host=scram-sha-256',
			'-E',
			'UTF8',
			'--no-sync',
		]);
		startServer(pg);
	} catch (error) {
		rmSync(dir, { recursive: true, force: true });
		throw error;
	}
	return pg;
}

/** Starts (or restarts) the server of a cluster made by startPostgres. */
export function startServer(pg: TestPostgres): void {
	const bin = findPostgresBin() ?? '';
	try {
		runAs(!!postgresUid(), join(bin, 'pg_ctl'), [
			'-D',
			join(pg.dir, 'data'),
			'-l',
			join(pg.dir, 'log'),
			'-w',
			'-t',
			'60',
			'-o',
			`-p ${pg.port} -k ${pg.dir} -h 127.0.0.1 -c fsync=off -c max_connections=200`,
			'start',
		]);
	} catch (error) {
		const e = error as { stderr?: Buffer; message: string };
		throw new Error(
			`Could not start the test PostgreSQL server: ${e.stderr?.toString() || e.message}`,
		);
	}
}

/** Stops the server at once (like a crash), keeping its files for a restart. */
export function stopServer(pg: TestPostgres): void {
	const bin = findPostgresBin();
	if (bin)
		runAs(!!postgresUid(), join(bin, 'pg_ctl'), [
			'-D',
			join(pg.dir, 'data'),
			'-m',
			'immediate',
			'-w',
			'stop',
		]);
}

export function stopPostgres(pg: TestPostgres): void {
	try {
		stopServer(pg);
	} finally {
		rmSync(pg.dir, { recursive: true, force: true });
	}
}

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
