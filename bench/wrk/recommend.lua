-- wrk script: POST /v1/recommend with a random two-cluster explicit context.
-- CLUSTERS (default 32) must match the server config's `clusters` (≥ 2).
local clusters = tonumber(os.getenv("CLUSTERS") or "32")

function recommend_request()
  local c = math.random(0, clusters - 1)
  local d = (c + math.random(1, clusters - 1)) % clusters
  return wrk.format("POST", "/v1/recommend", { ["Content-Type"] = "application/json" },
    string.format('{"context":[[%d,0.7],[%d,0.3]]}', c, d))
end

request = recommend_request

local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) errors = 0 end
function response(status, headers, body)
  if status ~= 200 then errors = errors + 1 end
end
function done(summary, latency, requests)
  local e = 0
  for _, t in ipairs(threads) do e = e + t:get("errors") end
  io.write(string.format("non-200 answers: %d\n", e))
end
