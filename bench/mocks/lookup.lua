-- wrk script shared by every target of bench/mocks/run.sh: POST /dancuquocgia with the SOAP
-- lookup (TraCuuThongTinCongDan) of a well-known citizen and the C06 headers.
--
-- The signed values are computed by run.sh just before each wrk run and passed in the environment:
--   LOOKUP_BODY_FILE  the request body (bench/mocks/lookup-request.xml)
--   LOOKUP_TIMESTAMP  epoch milliseconds (the mock accepts +/- 5 minutes)
--   LOOKUP_AUTH       the full Authorization value: Basic base64(user ":" sha256hex(url user ts secret))
--   LOOKUP_APIKEY     the ApiKey value
-- The same headers go to WireMock and Prism, which ignore them.
-- No response() callback: wrk then does not keep bodies, the same for every target; run.sh checks
-- the bodies with curl before and after each run, and wrk's status counts during it.

local function need(name)
  local v = os.getenv(name)
  if v == nil or v == "" then
    error("lookup.lua: environment variable " .. name .. " is not set")
  end
  return v
end

local f = assert(io.open(need("LOOKUP_BODY_FILE"), "rb"))
local body = f:read("*a")
f:close()

wrk.method = "POST"
wrk.path = "/dancuquocgia"
wrk.body = body
wrk.headers["Content-Type"] = "text/xml; charset=utf-8"
wrk.headers["SOAPAction"] = '""'
wrk.headers["ApiKey"] = need("LOOKUP_APIKEY")
wrk.headers["Timestamp"] = need("LOOKUP_TIMESTAMP")
wrk.headers["Authorization"] = need("LOOKUP_AUTH")
