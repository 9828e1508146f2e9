import { CEILING_MS, SHARE_RULE as R } from './policy';

/**
 * The limit state of one key (state.ts) in one Redis hash, changed by one script, so every
 * process sees and changes the same budget atomically. Time is Redis's own clock (`TIME`), one
 * clock for every worker, unless the caller passes one (tests with a fake clock).
 *
 * The script runs the operations of state.ts and the share rule of policy.ts line for line (Lua
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
-- state.ts admittedRates and refill: the ceilings times the shared share
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
  -- state.ts waitToSend, takeOne
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
  -- state.ts giveBack
  if tpm > 0 then t = math.min(tcap, t + n) end
elseif op == 'r429' or op == 'cut' then
  -- policy.ts onRateLimited (n = right answers the caller had not reported)
  ot = ot + n
  if ea < 0 and now - lc >= ${R.cutSpacingMs} then
    ea = now
    eo = ot
  end
  if op == 'cut' then
    -- state.ts cutShare, policy.ts onCluster; rpm is the effective ceiling (0 = none)
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
redis.call('HSET', KEYS[1], 'r', tostring(r), 't', tostring(t), 'ts', tostring(ts),
  'f', tostring(f), 'ss', tostring(ss), 'lc', tostring(lc), 'lg', tostring(lg), 'c', tostring(cuts),
  'cr', tostring(cr), 'cra', tostring(cra), 'ct', tostring(ct), 'cta', tostring(cta),
  'lr', tostring(lr), 'lt', tostring(lt), 'og', tostring(og), 'ot', tostring(ot), 'ea', tostring(ea),
  'eo', tostring(eo), 'ps', tostring(ps))
redis.call('PEXPIRE', KEYS[1], ttl)
return { result, math.floor(f * 1000000 + 0.5), cuts, math.floor(cr + 0.5), math.floor(lr + 0.5) }
`;
