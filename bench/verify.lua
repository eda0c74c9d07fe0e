-- wrk script of the `verify` target of bench/passthrough.sh: POST /v1/citizens/verify, the
-- translated path (JSON in, the C06-signed SOAP call to the population database mock, JSON out,
-- an audit record written before the answer).
--
-- Requests rotate over well-known citizens of the mock data set (docs/mock-data.md), each with its
-- exact name and date of birth, so that every answer is a real {"match": true}. passthrough.sh
-- checks every body below (one JSON object a line, taken from this file with grep) with curl
-- before the runs. The headers come from wrk's -H, the same as the script's curl checks:
-- Authorization, Content-Type, X-User-Id (the official: a 12-digit personal id number) and
-- X-Dossier-Id. No response() callback: wrk then does not keep bodies, the same as for the other
-- targets.

local bodies = {
  '{"citizen_id":"046090001234","full_name":"Nguyễn Văn An","date_of_birth":"1990-03-15"}',
  '{"citizen_id":"046195004321","full_name":"Trần Thị Bích Ngọc","date_of_birth":"1995-07-20"}',
  '{"citizen_id":"046220012345","full_name":"Nguyễn Minh Khôi","date_of_birth":"2020-09-02"}',
  '{"citizen_id":"079201000111","full_name":"Lê Minh Khoa","date_of_birth":"2001-01-01"}',
  '{"citizen_id":"046305000999","full_name":"Nguyễn Thị Thu Hà","date_of_birth":"2005-11-20"}',
  '{"citizen_id":"001080012345","full_name":"Phạm Quốc Hưng","date_of_birth":"1980-11-02"}',
  '{"citizen_id":"079180004567","full_name":"Võ Thị Mỹ Linh","date_of_birth":"1980-02-14"}',
  '{"citizen_id":"079075001122","full_name":"Huỳnh Tấn Lộc","date_of_birth":"1975-08-30"}',
  '{"citizen_id":"046072003456","full_name":"Trương Công Định","date_of_birth":"1972-06-10"}',
  '{"citizen_id":"046178002345","full_name":"Lê Thị Hồng","date_of_birth":"1978-12-01"}',
}

wrk.method = "POST"
wrk.path = "/v1/citizens/verify"

local requests = {}
local next_request = 1

-- Per wrk thread: the requests are formatted once (wrk.headers then holds the -H headers too);
-- request() only hands them out in turn.
function init(args)
  for i, body in ipairs(bodies) do
    requests[i] = wrk.format(nil, nil, nil, body)
  end
end

function request()
  local r = requests[next_request]
  next_request = next_request % #requests + 1
  return r
end
