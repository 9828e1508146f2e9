// n8n queue mode on one machine: a throw-away Redis and PostgreSQL, one `n8n start` main with
// EXECUTIONS_MODE=queue and N `n8n worker` processes sharing the user folder (so the same
// community install and N8N_ENCRYPTION_KEY). Used by `npm run start:queue`, the queue-mode e2e
// test and bench/queue-mode. Every port is a free one; nothing is fixed.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

import { encryptionKeyFor, freePort, startN8n, stopProcess, waitForHttp } from './lib.mjs';
import { n8nBin, n8nEnv, node24 } from './paths.mjs';
import { startPostgres, stopPostgres } from './postgres.mjs';

function canConnect(port) {
	return new Promise((resolve) => {
		const socket = net.createConnection({ host: '127.0.0.1', port });
		socket.once('connect', () => {
			socket.destroy();
			resolve(true);
		});
		socket.once('error', () => resolve(false));
	});
}

async function waitForPort(port, what, timeoutMs = 15_000) {
	const deadline = Date.now() + timeoutMs;
	while (!(await canConnect(port))) {
		if (Date.now() > deadline) throw new Error(`${what} did not listen on ${port}`);
		await new Promise((r) => setTimeout(r, 50));
	}
}

export function findRedisServer() {
	return [process.env.REDIS_SERVER, '/usr/bin/redis-server', '/usr/local/bin/redis-server'].find(
		(p) => p && existsSync(p),
	);
}

/** redis-server on a free loopback port (or `port`: one coming back), no persistence. */
export async function startRedisServer({ port: wanted } = {}) {
	const bin = findRedisServer();
	if (!bin)
		throw new Error(
			'redis-server not found: install it (Debian: apt-get install redis-server) or set REDIS_SERVER',
		);
	const port = wanted ?? (await freePort());
	const dir = mkdtempSync(path.join(os.tmpdir(), 'llm-batch-queue-redis-'));
	const child = spawn(
		bin,
		[
			'--port',
			String(port),
			'--bind',
			'127.0.0.1',
			'--save',
			'',
			'--appendonly',
			'no',
			'--dir',
			dir,
		],
		{ stdio: 'ignore' },
	);
	await waitForPort(port, 'redis-server');
	return {
		host: '127.0.0.1',
		port,
		process: child,
		stop: async () => {
			await stopProcess(child, 5000);
			rmSync(dir, { recursive: true, force: true });
		},
	};
}

/** A throw-away PostgreSQL cluster (postgres.mjs, the one the tests use) for n8n's database. */
export async function startPostgresServer() {
	const pg = await startPostgres({ password: 'queue-mode-password', maxConnections: 300 });
	return {
		host: pg.host,
		port: pg.port,
		user: pg.user,
		password: pg.password,
		database: pg.database,
		stop: async () => stopPostgres(pg),
	};
}

/** The environment every process of the topology shares (main, workers, CLI imports). */
export function queueEnv({ redis, pg }) {
	return {
		EXECUTIONS_MODE: 'queue',
		QUEUE_BULL_REDIS_HOST: redis.host,
		QUEUE_BULL_REDIS_PORT: String(redis.port),
		DB_TYPE: 'postgresdb',
		DB_POSTGRESDB_HOST: pg.host,
		DB_POSTGRESDB_PORT: String(pg.port),
		DB_POSTGRESDB_DATABASE: pg.database,
		DB_POSTGRESDB_USER: pg.user,
		DB_POSTGRESDB_PASSWORD: pg.password,
		// Production executions keep their data (the tests and the bench read it back).
		EXECUTIONS_DATA_SAVE_ON_SUCCESS: 'all',
		OFFLOAD_MANUAL_EXECUTIONS_TO_WORKERS: 'true',
	};
}

/** One `n8n worker`; resolves when its health endpoint answers. */
export async function startWorker(
	userFolder,
	env,
	{ concurrency = 10, onLine, name = 'worker' } = {},
) {
	const healthPort = await freePort();
	const brokerPort = await freePort();
	const child = spawn(node24(), [n8nBin(), 'worker', `--concurrency=${concurrency}`], {
		cwd: userFolder,
		env: n8nEnv(userFolder, {
			N8N_ENCRYPTION_KEY: encryptionKeyFor(userFolder),
			QUEUE_HEALTH_CHECK_ACTIVE: 'true',
			QUEUE_HEALTH_CHECK_PORT: String(healthPort),
			N8N_RUNNERS_BROKER_PORT: String(brokerPort),
			...env,
		}),
		stdio: ['ignore', 'pipe', 'pipe'],
	});
	let output = '';
	const onData = (chunk) => {
		output += chunk;
		if (output.length > 2_000_000) output = output.slice(-1_000_000);
		if (onLine) for (const line of chunk.toString().split('\n')) if (line.trim()) onLine(line);
	};
	child.stdout.on('data', onData);
	child.stderr.on('data', onData);
	try {
		await waitForHttp(`http://127.0.0.1:${healthPort}/healthz`, {
			timeoutMs: 180_000,
			child,
			output: () => output,
		});
	} catch (error) {
		await stopProcess(child);
		throw error;
	}
	return {
		name,
		healthPort,
		process: child,
		output: () => output,
		stop: () => stopProcess(child, 20_000),
		kill: () =>
			new Promise((resolve) => {
				if (child.exitCode !== null || child.signalCode !== null) return resolve();
				child.once('exit', () => resolve());
				child.kill('SIGKILL');
			}),
	};
}

/**
 * The whole topology. `prepare(env)` runs after the databases are up and before n8n starts
 * (import credentials and workflows, publish) with the env the CLI needs.
 */
export async function startQueueTopology(
	userFolder,
	{ workers = 3, concurrency = 10, port, prepare, onLine, extraEnv = {} } = {},
) {
	const started = [];
	const stopAll = async () => {
		for (const s of started.reverse()) await s.stop().catch(() => undefined);
	};
	try {
		const redis = await startRedisServer();
		started.push(redis);
		const pg = await startPostgresServer();
		started.push(pg);
		const env = { ...queueEnv({ redis, pg }), ...extraEnv };
		if (prepare) await prepare(env, { redis, pg });
		const main = await startN8n(userFolder, {
			port: port ?? (await freePort()),
			env,
			onLine: onLine && ((l) => onLine('main', l)),
		});
		started.push(main);
		const workerList = [];
		for (let i = 0; i < workers; i++) {
			const w = await startWorker(userFolder, env, {
				concurrency,
				name: `worker-${i + 1}`,
				onLine: onLine && ((l) => onLine(`worker-${i + 1}`, l)),
			});
			started.push(w);
			workerList.push(w);
		}
		return { redis, pg, main, workers: workerList, env, stop: stopAll };
	} catch (error) {
		await stopAll();
		throw error;
	}
}
