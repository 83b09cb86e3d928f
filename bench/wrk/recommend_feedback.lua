-- wrk script: recommend → feedback with real request ids. Each recommend answer queues its
-- request id and first item; the next request of the thread sends feedback for it
-- (Authorization: Bearer $RECFORGE_TOKEN), so half the requests are each endpoint.
-- CLUSTERS (default 32) must match the server config's `clusters` (≥ 2).
local clusters = tonumber(os.getenv("CLUSTERS") or "32")
local token = os.getenv("RECFORGE_TOKEN") or "load-test-token"
local queue = {}
local head, tail = 1, 0

function request()
  if head <= tail then
    local p = queue[head]
    queue[head] = nil
    head = head + 1
    return wrk.format("POST", "/v1/feedback",
      { ["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. token },
      string.format('{"request_id":"%s","item":"%s","reward":%d}', p.id, p.item, math.random(0, 1)))
  end
  local c = math.random(0, clusters - 1)
  local d = (c + math.random(1, clusters - 1)) % clusters
  return wrk.format("POST", "/v1/recommend", { ["Content-Type"] = "application/json" },
    string.format('{"context":[[%d,0.7],[%d,0.3]]}', c, d))
end

local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) errors = 0; feedbacks = 0 end
function response(status, headers, body)
  if status ~= 200 then errors = errors + 1; return end
  local id = body:match('"request_id":"([^"]+)"')
  if id then
    tail = tail + 1
    queue[tail] = { id = id, item = body:match('"item":"([^"]+)"') }
  elseif body:find('"applied"') then
    feedbacks = feedbacks + 1
  end
end
function done(summary, latency, requests)
  local e, f = 0, 0
  for _, t in ipairs(threads) do e = e + t:get("errors"); f = f + t:get("feedbacks") end
  io.write(string.format("feedback acknowledged: %d, non-200 answers: %d\n", f, e))
end
