-- shardgate: cluster-wide rate limits, one sync of one gateway's table (ADR 0016).
--
-- GCRA state in Redis, times in microseconds of Redis's own clock (TIME), so
-- the gateways' clocks never need to agree. Per limited key:
--   KEYS[2i-1]  the fleet's theoretical arrival time F: every gateway's
--               admissions, reported at its syncs, move it on by T each;
--   KEYS[2i]    this gateway's mirror M: where its local bucket stands,
--               replayed from what it reported and what it was told to charge.
-- F - M is what the other gateways admitted that this gateway's bucket has
-- not yet seen; it is returned as a count of requests to charge locally,
-- after which the mirror (and so the local bucket) stands at F again.
--
-- ARGV[1] T (1 / rate), ARGV[2] the cap: burst x T plus one second of rate,
-- as far ahead of now as a local table's `charge` moves a TAT, ARGV[3] the
-- expiry slack in ms, ARGV[3+i] the requests this gateway admitted for key i
-- since its last sync. Returns one count per key.
--
-- A TAT behind now carries no information (a full bucket), so both keys
-- expire when theirs passes (plus the slack): Redis holds only keys with
-- recent traffic, and an expired key reads as "now", which is exact.
local t = tonumber(ARGV[1])
local cap = tonumber(ARGV[2])
local slack = tonumber(ARGV[3])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local out = {}
for i = 1, #KEYS / 2 do
  local fk, mk = KEYS[2 * i - 1], KEYS[2 * i]
  local c = tonumber(ARGV[3 + i]) or 0
  local f = math.max(tonumber(redis.call('GET', fk)) or now, now)
  f = math.min(f + c * t, now + cap)
  local m = math.max(tonumber(redis.call('GET', mk)) or now, now)
  m = math.min(m + c * t, now + cap)
  local n = 0
  if f > m then
    -- Rounded to the nearest request; the rest stays in F - M for the
    -- next sync (rounding down would lose one to the microseconds that
    -- pass between two gateways' syncs).
    n = math.floor((f - m) / t + 0.5)
    m = math.min(m + n * t, now + cap)
  end
  -- Integral microseconds: Lua's default number format keeps 14 digits,
  -- which would round a 16-digit time to 100 us.
  redis.call('SET', fk, string.format('%.0f', f), 'PX', math.floor((f - now) / 1000) + slack)
  redis.call('SET', mk, string.format('%.0f', m), 'PX', math.floor((m - now) / 1000) + slack)
  out[i] = n
end
return out
