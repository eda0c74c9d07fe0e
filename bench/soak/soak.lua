-- wrk script of bench/soak/run.sh: mixed traffic, as the portal sends it, at a set rate.
--   40 % pass-through   GET  /v1/proxy/catalogue/procedures
--   20 % translated     POST /v1/citizens/verify (C06-signed SOAP, an audit record each)
--   30 % cached         GET  /v1/enterprises/0314409058 (cache hits after the first)
--   10 % payments       POST /v1/payments (a new Idempotency-Key each: a ledger row each)
-- Arguments: the delay between two requests of one connection, in ms (0: as fast as possible).

local delay_ms = 0
local counter = 0
local verify = '{"citizen_id":"046090001234","full_name":"Nguyễn Văn An","date_of_birth":"1990-03-15"}'
local order = '{"dossier_id":"HS-SOAK","provider":"vnpay","amount_vnd":50000,"description":"Le phi",'
  .. '"return_url":"https://portal.example/ket-qua","items":[{"code":"LP","name":"Le phi","amount_vnd":50000}]}'

-- A global, set per thread by setup(): a `local` here would shadow it, and every thread would send
-- the same idempotency keys.
thread_id = 0

local threads = {}

function setup(thread)
  thread:set("thread_id", math.random(1, 1000000000))
  table.insert(threads, thread)
end

function init(args)
  delay_ms = tonumber(args[1] or "0")
end

function delay()
  return delay_ms
end

-- wrk.format() sends the headers it is given instead of wrk.headers: each request takes the
-- command line's (the Authorization header) and adds its own.
local function with_common(extra)
  local headers = {}
  for k, v in pairs(wrk.headers) do headers[k] = v end
  for k, v in pairs(extra) do headers[k] = v end
  return headers
end

function request()
  counter = counter + 1
  local pick = counter % 10
  if pick < 4 then
    return wrk.format("GET", "/v1/proxy/catalogue/procedures")
  elseif pick < 6 then
    return wrk.format("POST", "/v1/citizens/verify", with_common({
      ["Content-Type"] = "application/json",
      ["X-User-Id"] = "046185000123",
      ["X-Dossier-Id"] = "HS-SOAK",
    }), verify)
  elseif pick < 9 then
    return wrk.format("GET", "/v1/enterprises/0314409058")
  else
    return wrk.format("POST", "/v1/payments", with_common({
      ["Content-Type"] = "application/json",
      ["Idempotency-Key"] = string.format('"soak-%d-%d"', thread_id, counter),
    }), order)
  end
end

-- Refused answers by status and problem code, per thread, summed in done(): the soak's "no errors" says
-- which they were when there are any.
refused = {}

function response(status, headers, body)
  if status >= 400 then
    local key = status .. " " .. (string.match(body or "", '"code":"([^"]+)"') or "?")
    refused[key] = (refused[key] or 0) + 1
  end
end

function done(summary, latency, requests)
  local total = {}
  for _, thread in ipairs(threads) do
    for key, n in pairs(thread:get("refused") or {}) do
      total[key] = (total[key] or 0) + n
    end
  end
  for key, n in pairs(total) do
    io.write(string.format("refused: %d x %s\n", n, key))
  end
  local e = summary.errors
  io.write(string.format("socket errors: connect %d, read %d, write %d, timeout %d\n",
    e.connect, e.read, e.write, e.timeout))
end
