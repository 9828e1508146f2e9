import { createHash } from 'node:crypto';

import { Redis, type RedisOptions } from 'ioredis';

import type { Clock } from '../types';
import { SHARE_RULE as R } from './aimd';
import { CEILING_MS, type LimitStore, type StoreLimits } from './limit-store';

/**
 * Two continuously refilled buckets (requests, tokens) and a pause, in one Redis hash,
 * updated by one script, so every process sees and changes the same budget atomically.
 * Time is Redis's own clock (`TIME`), one clock for every worker, unless the caller passes
 * one (tests with a fake clock). Same arithmetic as TokenBucket (core/call/fallback-limiter.ts): a
 * request larger than the bucket is let through when it is full and leaves a debt.
 *
 * The controller's adaptive state is shared the same way: `share` (the fraction of the
 * configured limits admitted now) is cut by `cut` (a cluster of 429s, at most once a second
 * whoever reports it) and grows back by `grow` — aimd.ts's rule line for line (Lua cannot
 * call it; its constants are interpolated below, and test/core/call/redis-store.test.ts runs
 * one sequence through this script and through aimd.ts and compares).
 *
 * As in the in-process controller (core/call/controller.ts), the configured limits are ceilings:
 * the rates admitted are `share` × the lowest of (a) the limits configured by the processes
 * using the key now (a caller's limits count for CEILING_MS after its last call, so a run
 * that ended stops holding the others down) and (b) the limits the provider's rate-limit
 * headers announced (the latest any process read).
 *
 * KEYS[1] state hash · ARGV: op, rpm, tpm (0 = no limit), burst seconds, n, now (-1 = TIME), ttl ms,
 * learned rpm, learned tpm (0 = none read)
 * Returns { ms to wait for `take` (0 = taken, else 0), share × 10⁶, cuts so far,
 * lowest configured rpm (0 = none), learned rpm (0 = none) }.
 */
export const LIMIT_SCRIPT = `
local op = ARGV[1]
local rpm = tonumber(ARGV[2])
local tpm = tonumber(ARGV[3])
local burst = tonumber(ARGV[4])
local n = tonumber(ARGV[5])
local now = tonumber(ARGV[6])
local ttl = tonumber(ARGV[7])
if now < 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local lrIn = tonumber(ARGV[8]) or 0
local ltIn = tonumber(ARGV[9]) or 0
local s = redis.call('HMGET', KEYS[1], 'r', 't', 'ts', 'p', 'f', 'ss', 'lc', 'lg', 'c',
  'cr', 'cra', 'ct', 'cta', 'lr', 'lt', 'og', 'ot', 'ea', 'eo', 'ps')
local f = tonumber(s[5]) or 1
local ss = tonumber(s[6]) or 1
local lc = tonumber(s[7]) or -1e15
local lg = tonumber(s[8]) or now
local cuts = tonumber(s[9]) or 0
-- the rest of aimd.ts ShareState: right answers since the last step and in all, the 429
-- episode (start, right answers then; -1 = none), probe steps above the threshold
local og = tonumber(s[16]) or 0
local ot = tonumber(s[17]) or 0
local ea = tonumber(s[18]) or -1
local eo = tonumber(s[19]) or 0
local ps = tonumber(s[20]) or 0
-- 0 = no limit: a <= b in that order
local function le(a, b) return b == 0 or (a ~= 0 and a <= b) end
local function lower(a, b) if le(a, b) then return a end return b end
-- the lowest limit configured by the callers of the last CEILING_MS (the lowest refreshes it)
local cr = tonumber(s[10]) or rpm
local cra = tonumber(s[11]) or -1e15
local ct = tonumber(s[12]) or tpm
local cta = tonumber(s[13]) or -1e15
if le(rpm, cr) or now - cra > ${CEILING_MS} then cr = rpm; cra = now end
if le(tpm, ct) or now - cta > ${CEILING_MS} then ct = tpm; cta = now end
-- the limits the provider announced (the latest read by any process)
local lr = tonumber(s[14]) or 0
local lt = tonumber(s[15]) or 0
if lrIn > 0 then lr = lrIn end
if ltIn > 0 then lt = ltIn end
rpm = lower(cr, lr)
tpm = lower(ct, lt)
-- the admitted rates: the ceilings times the shared adaptive share
local erpm = rpm * f
local etpm = tpm * f
local rcap = math.max(1, erpm / 60 * burst)
local tcap = math.max(1, etpm / 60 * burst)
local r = tonumber(s[1]) or rcap
local t = tonumber(s[2]) or tcap
local ts = tonumber(s[3]) or now
local p = tonumber(s[4]) or 0
if now > ts then
  r = r + (now - ts) * erpm / 60000
  t = t + (now - ts) * etpm / 60000
  ts = now
end
r = math.min(r, rcap)
t = math.min(t, tcap)
local result = 0
if op == 'take' then
  local wait = p - now
  if rpm > 0 and r < 1 then wait = math.max(wait, math.ceil((1 - r) * 60000 / erpm)) end
  local need = math.min(n, tcap)
  if tpm > 0 and t < need then wait = math.max(wait, math.ceil((need - t) * 60000 / etpm)) end
  if wait <= 0 then
    if rpm > 0 then r = r - 1 end
    if tpm > 0 then t = t - n end
  else
    result = wait
  end
elseif op == 'adjust' then
  if tpm > 0 then t = math.min(tcap, t + n) end
elseif op == 'penalize' then
  r = math.min(r, 0)
  if n > 0 then p = math.max(p, now + n) end
elseif op == 'pause' then
  p = math.max(p, now + n)
elseif op == 'r429' or op == 'cut' then
  -- aimd.ts onRateLimited (n = right answers the caller had not reported)
  ot = ot + n
  if ea < 0 and now - lc >= ${R.cutSpacingMs} then
    ea = now
    eo = ot
  end
  if op == 'cut' then
    -- aimd.ts onCluster; rpm is the effective ceiling (0 = none)
    r = math.min(r, 0)
    if now - lc >= ${R.cutSpacingMs} then
      local real = math.huge
      local span = now - ea
      local oks = ot - eo
      if ea >= 0 and span >= ${R.episodeMinMs} and oks >= ${R.episodeMinOk} and rpm > 0 then
        real = oks / span * 60000 / rpm
      end
      ea = -1
      ss = math.max(${R.minShare}, math.min(f * ${R.belowCut}, real * ${R.belowLimit}))
      f = math.max(${R.minShare}, math.min(f * ${R.cutFactor}, ss))
      lc = now
      lg = now
      og = 0
      ps = 0
      cuts = cuts + 1
    end
  end
elseif op == 'grow' then
  -- aimd.ts onOk (n = right answers): slow start below the threshold, then the probe
  ot = ot + n
  og = og + n
  if f < 1 and now - lg >= ${R.growEveryMs} and og >= ${R.growEvidence} then
    if f < ss then
      f = math.min(ss, f * ${R.slowStart})
    else
      ps = ps + 1
      f = math.min(1, f + ${R.probeStep} * ss * 2 ^ math.floor((ps - 1) / ${R.probeDoublingSteps}))
    end
    lg = now
    og = 0
  end
end
redis.call('HSET', KEYS[1], 'r', tostring(r), 't', tostring(t), 'ts', tostring(ts), 'p', tostring(p),
  'f', tostring(f), 'ss', tostring(ss), 'lc', tostring(lc), 'lg', tostring(lg), 'c', tostring(cuts),
  'cr', tostring(cr), 'cra', tostring(cra), 'ct', tostring(ct), 'cta', tostring(cta),
  'lr', tostring(lr), 'lt', tostring(lt), 'og', tostring(og), 'ot', tostring(ot), 'ea', tostring(ea),
  'eo', tostring(eo), 'ps', tostring(ps))
redis.call('PEXPIRE', KEYS[1], ttl)
return { result, math.floor(f * 1000000 + 0.5), cuts, math.floor(cr + 0.5), math.floor(lr + 0.5) }
`;

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
const connectionErrors = new WeakMap<Redis, Error>();

/** ioredis's words for "a command was refused because the connection is down". */
const NOT_CONNECTED = /Stream isn't writeable|enableOfflineQueue|Connection is closed/i;

type LimitClient = Redis & {
	llmBatchLimit(
		key: string,
		op: string,
		rpm: number,
		tpm: number,
		burst: number,
		n: number,
		now: number,
		ttl: number,
		learnedRpm: number,
		learnedTpm: number,
	): Promise<[number, number, number, number, number]>;
};

/**
 * A client that fails fast instead of queueing commands while disconnected (so the
 * limiter's fallback starts at once), and keeps reconnecting in the background.
 */
export function createRedisClient(cfg: RedisConfig, extra: RedisOptions = {}): LimitClient {
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
	client.defineCommand('llmBatchLimit', { numberOfKeys: 1, lua: LIMIT_SCRIPT });
	return client as LimitClient;
}

export interface RedisLimitStoreOptions {
	/**
	 * Key prefix in Redis.
	 * @default 'llm-batch:limit:'
	 */
	readonly prefix?: string;
	/** Tests only: use this clock instead of Redis's `TIME`. */
	readonly clock?: Clock;
	/**
	 * An idle key expires after this long (its buckets are full again anyway).
	 * @default 600000
	 */
	readonly idleTtlMs?: number;
}

export class RedisLimitStore implements LimitStore {
	private readonly prefix: string;
	private readonly ttl: number;

	constructor(
		private readonly client: LimitClient,
		private readonly o: RedisLimitStoreOptions = {},
	) {
		this.prefix = o.prefix ?? 'llm-batch:limit:';
		this.ttl = o.idleTtlMs ?? 600_000;
	}

	private readonly seen = new Map<
		string,
		{ share: number; cuts: number; ceilingRpm: number; learnedRpm: number }
	>();

	/** A failed command as its cause: the connection's own error when the command only says "not connected". */
	private failure(error: unknown): Error {
		const at = {
			host: this.client.options.host ?? 'localhost',
			port: this.client.options.port ?? 6379,
		};
		const message = error instanceof Error ? error.message : String(error);
		const cause = NOT_CONNECTED.test(message)
			? (connectionErrors.get(this.client) ?? new Error(`not connected to ${at.host}:${at.port}`))
			: error;
		return new Error(describeRedisFailure(cause, at), { cause: error });
	}

	private async run(op: string, key: string, limits: StoreLimits, n: number): Promise<number> {
		const finite = (v: number) => (Number.isFinite(v) ? v : 0);
		const [wait, share, cuts, ceilingRpm, learnedRpm] = await this.client
			.llmBatchLimit(
				this.prefix + key,
				op,
				finite(limits.rpm),
				finite(limits.tpm),
				limits.burstSeconds ?? 0.5,
				Math.round(n),
				this.o.clock ? this.o.clock.now() : -1,
				this.ttl,
				finite(limits.learnedRpm ?? 0),
				finite(limits.learnedTpm ?? 0),
			)
			.catch((e: unknown) => {
				throw this.failure(e);
			});
		this.seen.set(key, {
			share: Number(share) / 1e6,
			cuts: Number(cuts),
			ceilingRpm: Number(ceilingRpm) || Infinity,
			learnedRpm: Number(learnedRpm),
		});
		return Number(wait);
	}

	async take(key: string, limits: StoreLimits, tokens: number): Promise<number> {
		return await this.run('take', key, limits, tokens);
	}

	async adjust(key: string, limits: StoreLimits, tokens: number): Promise<void> {
		await this.run('adjust', key, limits, tokens);
	}

	async penalize(key: string, limits: StoreLimits, pauseMs: number): Promise<void> {
		await this.run('penalize', key, limits, pauseMs);
	}

	async pause(key: string, limits: StoreLimits, pauseMs: number): Promise<void> {
		await this.run('pause', key, limits, pauseMs);
	}

	async cut(key: string, limits: StoreLimits, oks: number): Promise<void> {
		await this.run('cut', key, limits, oks);
	}

	async rateLimited(key: string, limits: StoreLimits, oks: number): Promise<void> {
		await this.run('r429', key, limits, oks);
	}

	async grow(key: string, limits: StoreLimits, oks: number): Promise<void> {
		await this.run('grow', key, limits, oks);
	}

	adaptive(key: string): { share: number; cuts: number } {
		const e = this.seen.get(key);
		return { share: e?.share ?? 1, cuts: e?.cuts ?? 0 };
	}

	ceilings(key: string): { ceilingRpm: number; learnedRpm: number } | undefined {
		const e = this.seen.get(key);
		return e && { ceilingRpm: e.ceilingRpm, learnedRpm: e.learnedRpm };
	}
}

const clients = new Map<string, { client: LimitClient; users: number }>();

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
): Promise<{ client: LimitClient; release: () => void; error?: Error }> {
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
