-- One GCRA decision, atomically: the same maths as governor (emission interval T, tolerance
-- tau = T * (burst - 1), theoretical arrival time TAT), with Redis' own clock so that every replica
-- measures time alike. Times are in microseconds.
--
-- KEYS[1]  the client's TAT
-- ARGV[1]  T
-- ARGV[2]  tau
-- ARGV[3]  (tests only) the time to decide at, instead of Redis TIME
--
-- Returns {allowed (1|0), remaining burst, µs until the quota is whole again (allowed) or until
-- the next request may go (refused)}.
local t = tonumber(ARGV[1])
local tau = tonumber(ARGV[2])
local now
if ARGV[3] then
  now = tonumber(ARGV[3])
else
  local time = redis.call('TIME')
  now = tonumber(time[1]) * 1000000 + tonumber(time[2])
end
-- A missing key (GET gives false) is a client at rest: its TAT is now.
local tat = tonumber(redis.call('GET', KEYS[1]) or now) or now
local earliest = tat - tau
if now < earliest then
  return {0, 0, earliest - now}
end
local new_tat = math.max(tat, now) + t
-- Once now passes the TAT the state equals a missing key: let it expire then.
redis.call('SET', KEYS[1], string.format('%d', new_tat), 'PX', math.ceil((new_tat - now) / 1000))
local remaining = math.floor(math.min(now + tau + t - new_tat, tau + t) / t)
return {1, remaining, new_tat - now}
