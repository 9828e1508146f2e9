import type { Redis } from 'ioredis';

import type { Clock } from '../../types';
import { CEILING_MS, SHARE_RULE as R } from './policy';
import { connectionErrors, describeRedisFailure, NOT_CONNECTED } from './redis-connection';
import type { LimitStore, StoreLimits } from './store';

/**
 * The limit state of one key (policy.ts `LimitState`) in one Redis hash, changed by one script, so every
 * process sees and changes the same budget atomically. Time is Redis's own clock (`TIME`), one
 * clock for every worker, unless the caller passes one (tests with a fake clock).
 *
 * The script runs the operations and the share rule of policy.ts line for line (Lua
 * cannot call them; the rule's constants are interpolated below, and
 * test/core/call/limiter/redis-store.test.ts runs one sequence through this script and through
 * the in-memory store and compares). As in `MemoryLimitStore`, the ceilings are the lowest limits
 * configured by the processes using the key now (a caller's limits count for CEILING_MS after its
 * last call, so a run that ended stops holding the others down) and the limits the provider's
 * rate-limit headers announced (the latest any process read).
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
local s = redis.call('HMGET', KEYS[1], 'r', 't', 'ts', 'f', 'ss', 'lc', 'lg', 'c',
  'cr', 'cra', 'ct', 'cta', 'lr', 'lt', 'og', 'ot', 'ea', 'eo', 'ps')
local f = tonumber(s[4]) or 1
local ss = tonumber(s[5]) or 1
local lc = tonumber(s[6]) or -1e15
local lg = tonumber(s[7]) or now
local cuts = tonumber(s[8]) or 0
-- the rest of policy.ts ShareState: right answers since the last step and in all, the 429
-- episode (start, right answers then; -1 = none), probe steps above the threshold
local og = tonumber(s[15]) or 0
local ot = tonumber(s[16]) or 0
local ea = tonumber(s[17]) or -1
local eo = tonumber(s[18]) or 0
local ps = tonumber(s[19]) or 0
-- 0 = no limit: a <= b in that order
local function le(a, b) return b == 0 or (a ~= 0 and a <= b) end
local function lower(a, b) if le(a, b) then return a end return b end
-- the lowest limit configured by the callers of the last CEILING_MS (the lowest refreshes it)
local cr = tonumber(s[9]) or rpm
local cra = tonumber(s[10]) or -1e15
local ct = tonumber(s[11]) or tpm
local cta = tonumber(s[12]) or -1e15
if le(rpm, cr) or now - cra > ${CEILING_MS} then cr = rpm; cra = now end
if le(tpm, ct) or now - cta > ${CEILING_MS} then ct = tpm; cta = now end
-- the limits the provider announced (the latest read by any process)
local lr = tonumber(s[13]) or 0
local lt = tonumber(s[14]) or 0
if lrIn > 0 then lr = lrIn end
if ltIn > 0 then lt = ltIn end
rpm = lower(cr, lr)
tpm = lower(ct, lt)
-- policy.ts admittedRates and refill: the ceilings times the shared share
local erpm = rpm * f
local etpm = tpm * f
local rcap = math.max(1, erpm / 60 * burst)
local tcap = math.max(1, etpm / 60 * burst)
local r = tonumber(s[1]) or rcap
local t = tonumber(s[2]) or tcap
local ts = tonumber(s[3]) or now
if now > ts then
  r = r + (now - ts) * erpm / 60000
  t = t + (now - ts) * etpm / 60000
  ts = now
end
r = math.min(r, rcap)
t = math.min(t, tcap)
local result = 0
if op == 'take' then
  -- policy.ts waitToSend, takeOne
  local wait = 0
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
  -- policy.ts giveBack
  if tpm > 0 then t = math.min(tcap, t + n) end
elseif op == 'r429' or op == 'cut' then
  -- policy.ts onRateLimited (n = right answers the caller had not reported)
  ot = ot + n
  if ea < 0 and now - lc >= ${R.cutSpacingMs} then
    ea = now
    eo = ot
  end
  if op == 'cut' then
    -- policy.ts cutShare, onCluster; rpm is the effective ceiling (0 = none)
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
  -- policy.ts onOk (n = right answers): slow start below the threshold, then the probe
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
-- every digit of a double, so the next call starts from exactly these numbers (as in memory)
local function num(x) return string.format('%.17g', x) end
redis.call('HSET', KEYS[1], 'r', num(r), 't', num(t), 'ts', num(ts),
  'f', num(f), 'ss', num(ss), 'lc', num(lc), 'lg', num(lg), 'c', num(cuts),
  'cr', num(cr), 'cra', num(cra), 'ct', num(ct), 'cta', num(cta),
  'lr', num(lr), 'lt', num(lt), 'og', num(og), 'ot', num(ot), 'ea', num(ea),
  'eo', num(eo), 'ps', num(ps))
redis.call('PEXPIRE', KEYS[1], ttl)
return { result, math.floor(f * 1000000 + 0.5), cuts, math.floor(cr + 0.5), math.floor(lr + 0.5) }
`;

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

	private readonly client: LimitClient;

	constructor(
		client: Redis,
		private readonly options: RedisLimitStoreOptions = {},
	) {
		// Defined once per connection (several runs share one, see openRedis).
		if (!('llmBatchLimit' in client))
			client.defineCommand('llmBatchLimit', { numberOfKeys: 1, lua: LIMIT_SCRIPT });
		this.client = client as LimitClient;
		this.prefix = options.prefix ?? 'llm-batch:limit:';
		this.ttl = options.idleTtlMs ?? 600_000;
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
				this.options.clock ? this.options.clock.now() : -1,
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
