-- wrk script of bench/ipn.sh: replays the pre-signed IPN paths in $IPN_PATHS round-robin (each
-- thread starts at its own offset) and counts VNPay's RspCode in the answers.
local threads = {}
local next_id = 0

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

function init(args)
  paths = {}
  for line in io.lines(os.getenv("IPN_PATHS")) do
    paths[#paths + 1] = line
  end
  local nthreads = tonumber(os.getenv("WRK_THREADS") or "1")
  i = math.floor(#paths * id / nthreads)
  n00, n02, nother = 0, 0, 0
end

function request()
  i = i % #paths + 1
  return wrk.format("GET", paths[i])
end

function response(status, headers, body)
  local code = body and body:match('"RspCode":"(%d%d)"')
  if status == 200 and code == "00" then
    n00 = n00 + 1
  elseif status == 200 and code == "02" then
    n02 = n02 + 1
  else
    nother = nother + 1
  end
end

function done(summary, latency, requests)
  local a, b, c = 0, 0, 0
  for _, t in ipairs(threads) do
    a = a + t:get("n00")
    b = b + t:get("n02")
    c = c + t:get("nother")
  end
  io.write(string.format("rspcodes %d %d %d\n", a, b, c))
end
