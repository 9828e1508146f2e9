import { createHash } from 'node:crypto';

import { Redis, type RedisOptions } from 'ioredis';

export interface RedisConfig {
	readonly host: string;
	readonly port: number;
	readonly user?: string;
	readonly password?: string;
	readonly database: number;
	readonly tls: boolean;
}

/** The `llmBatchRedisApi` credential's fields -> a connection config. */
export function redisConfigFromCredential(c: Record<string, unknown>): RedisConfig {
	const str = (v: unknown) => (typeof v === 'string' ? v : '');
	return {
		host: str(c.host) || 'localhost',
		port: Number(c.port) || 6379,
		user: str(c.user) || undefined,
		password: str(c.password) || undefined,
		database: Number(c.database) || 0,
		tls: c.tls === true,
	};
}

/** Where a Redis is, for messages (never the user or password). */
export interface RedisAddress {
	readonly host: string;
	readonly port: number;
}

/**
 * Why Redis cannot be used, in words a user acts on: refused, authentication (WRONGPASS /
 * NOAUTH), timeout, unknown host, reset. Built from the error's code and Redis's reply, never
 * from the credential: a password never reaches a warning.
 */
export function describeRedisFailure(error: unknown, at: RedisAddress): string {
	const e = error as { message?: unknown; code?: unknown } | null | undefined;
	const message = typeof e?.message === 'string' ? e.message : String(error ?? '');
	const text = `${typeof e?.code === 'string' ? e.code : ''} ${message}`;
	const where = `${at.host}:${at.port}`;
	if (/ECONNREFUSED/.test(text)) return `connection refused at ${where}`;
	if (/\bNOAUTH\b/.test(text))
		return `authentication failed (NOAUTH) at ${where}: the server needs a password — set it in the LLM Batch: Redis credential`;
	if (/\bWRONGPASS\b|invalid (username-)?password/i.test(text))
		return `authentication failed (WRONGPASS) at ${where}: check the user and password of the LLM Batch: Redis credential`;
	if (/ETIMEDOUT|timed? ?out|did not become ready/i.test(text))
		return `no answer from ${where} (timeout)`;
	if (/ENOTFOUND|EAI_AGAIN/.test(text)) return `the host name ${at.host} does not resolve`;
	if (/ECONNRESET|EPIPE/.test(text)) return `the connection to ${where} was reset`;
	return `${message.slice(0, 200)} (${where})`;
}

/** The last connection error of each client: what "Stream isn't writeable" really means. */
export const connectionErrors = new WeakMap<Redis, Error>();

/** ioredis's words for "a command was refused because the connection is down". */
export const NOT_CONNECTED = /Stream isn't writeable|enableOfflineQueue|Connection is closed/i;

/**
 * A client that fails fast instead of queueing commands while disconnected (so the
 * limiter's fallback starts at once), and keeps reconnecting in the background.
 */
export function createRedisClient(cfg: RedisConfig, extra: RedisOptions = {}): Redis {
	const client = new Redis({
		host: cfg.host,
		port: cfg.port,
		username: cfg.user,
		password: cfg.password,
		db: cfg.database,
		tls: cfg.tls ? {} : undefined,
		lazyConnect: true,
		enableOfflineQueue: false,
		maxRetriesPerRequest: 0,
		connectTimeout: 5000,
		commandTimeout: 2000,
		retryStrategy: (times) => Math.min(times * 200, 2000),
		...extra,
	});
	// Connection errors surface as failed commands (the limiter's fallback), which only say the
	// connection is down: the cause is kept for their message. Without a listener ioredis would
	// print each reconnect attempt as an unhandled error.
	client.on('error', (e: Error) => connectionErrors.set(client, e));
	client.on('ready', () => connectionErrors.delete(client));
	return client;
}

const clients = new Map<string, { client: Redis; users: number }>();

function connectionId(cfg: RedisConfig): string {
	// The password is part of the identity (a fixed password must reconnect) but only hashed.
	return createHash('sha256')
		.update(JSON.stringify([cfg.host, cfg.port, cfg.user, cfg.password, cfg.database, cfg.tls]))
		.digest('hex');
}

/**
 * One connection per Redis server in this process, shared by the executions running at
 * once and closed when the last one releases it (so a CLI run can exit). `error` says why
 * the server cannot be reached now; the client keeps reconnecting in the background, so a
 * caller that continues on a fallback finds Redis again when it is back.
 */
export async function openRedis(
	cfg: RedisConfig,
): Promise<{ client: Redis; release: () => void; error?: Error }> {
	const id = connectionId(cfg);
	let entry = clients.get(id);
	if (!entry) {
		entry = { client: createRedisClient(cfg), users: 0 };
		clients.set(id, entry);
	}
	entry.users++;
	const e = entry;
	let released = false;
	const release = () => {
		if (released) return;
		released = true;
		if (--e.users === 0) {
			clients.delete(id);
			e.client.disconnect();
		}
	};
	// ioredis reports why a connection failed (a wrong password, a refused port) on its
	// 'error' event, and only "Connection is closed." from connect(): keep the first reason.
	let reason: Error | undefined;
	const onError = (err: Error) => (reason ??= err);
	e.client.on('error', onError);
	try {
		if (e.client.status === 'wait') await e.client.connect();
		else if (e.client.status !== 'ready') await waitReady(e.client, 5000);
		await e.client.ping();
		return { client: e.client, release };
	} catch (err) {
		const error = new Error(describeRedisFailure(reason ?? err, cfg));
		return { client: e.client, release, error };
	} finally {
		e.client.off('error', onError);
	}
}

function waitReady(client: Redis, timeoutMs: number): Promise<void> {
	return new Promise((resolve, reject) => {
		const done = (err?: Error) => {
			clearTimeout(timer);
			client.off('ready', onReady);
			if (err) reject(err);
			else resolve();
		};
		const onReady = () => done();
		const timer = setTimeout(
			() => done(new Error(`Redis did not become ready within ${timeoutMs} ms`)),
			timeoutMs,
		);
		client.once('ready', onReady);
	});
}
