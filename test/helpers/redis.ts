/**
 * A throw-away redis-server for the tests (Debian package `redis-server`): started on a free
 * loopback port with no persistence, in its own temp folder, stopped (or killed, like an
 * outage) by the test. No npm package ships a redis-server, so on a machine without one the
 * tests that need it are skipped, and the run's closing summary names them
 * (test/helpers/skip-summary-reporter.ts).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import type { TestContext } from 'vitest';

export interface TestRedis {
	host: string;
	port: number;
	password?: string;
	dir: string;
	process?: ChildProcess;
}

export function findRedisServer(): string | undefined {
	return [process.env.REDIS_SERVER, '/usr/bin/redis-server', '/usr/local/bin/redis-server'].find(
		(p): p is string => !!p && existsSync(p),
	);
}

/** The skip note of a test that needs redis-server, and how to get one (the run's summary says it). */
export const NO_REDIS_SERVER = 'redis-server not found';
export const INSTALL_REDIS_SERVER =
	'install it to run them (Debian/Ubuntu: apt-get install redis-server), or set REDIS_SERVER=/path/to/redis-server';

/**
 * A beforeEach for test files that need a real redis-server: without one, each test is skipped
 * (noted for the summary) instead of failing. The file's beforeAll must then start nothing.
 */
export function skipWithoutRedis(context: TestContext): void {
	if (!findRedisServer()) context.skip(NO_REDIS_SERVER);
}

export async function freePort(): Promise<number> {
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

function canConnect(port: number): Promise<boolean> {
	return new Promise((resolve) => {
		const socket = createConnection({ host: '127.0.0.1', port });
		socket.once('connect', () => {
			socket.destroy();
			resolve(true);
		});
		socket.once('error', () => resolve(false));
	});
}

async function waitFor(check: () => Promise<boolean>, what: string, ms = 10_000): Promise<void> {
	const until = Date.now() + ms;
	while (Date.now() < until) {
		if (await check()) return;
		await new Promise((r) => setTimeout(r, 50));
	}
	throw new Error(`Timed out waiting for ${what}`);
}

export async function startRedis(opts: { password?: string } = {}): Promise<TestRedis> {
	const bin = findRedisServer();
	if (!bin) {
		throw new Error(
			'redis-server not found (looked in $REDIS_SERVER, /usr/bin, /usr/local/bin). ' +
				'Install it (Debian: apt-get install redis-server) — the shared-limit tests need a real server.',
		);
	}
	const redis: TestRedis = {
		host: '127.0.0.1',
		port: await freePort(),
		password: opts.password,
		dir: mkdtempSync(join(tmpdir(), 'llm-batch-redis-')),
	};
	startRedisServer(redis);
	await waitFor(() => canConnect(redis.port), `redis-server on port ${redis.port}`);
	return redis;
}

/** Starts (or restarts, on the same port) the server of a TestRedis. */
export function startRedisServer(redis: TestRedis): void {
	const args = [
		'--port',
		String(redis.port),
		'--bind',
		'127.0.0.1',
		'--save',
		'',
		'--appendonly',
		'no',
		'--dir',
		redis.dir,
		'--protected-mode',
		'no',
	];
	if (redis.password) args.push('--requirepass', redis.password);
	redis.process = spawn(findRedisServer()!, args, { stdio: 'ignore' });
}

export async function restartRedis(redis: TestRedis): Promise<void> {
	startRedisServer(redis);
	await waitFor(() => canConnect(redis.port), `redis-server on port ${redis.port}`);
}

/** Kills the server at once (an outage); restartRedis brings it back on the same port. */
export async function killRedis(redis: TestRedis): Promise<void> {
	const p = redis.process;
	if (!p || p.exitCode !== null) return;
	await new Promise<void>((resolve) => {
		p.once('exit', () => resolve());
		p.kill('SIGKILL');
	});
}

/** Stops and deletes a server from startRedis; nothing when none was started. */
export async function stopRedis(redis: TestRedis | undefined): Promise<void> {
	if (!redis) return;
	try {
		await killRedis(redis);
	} finally {
		rmSync(redis.dir, { recursive: true, force: true });
	}
}
