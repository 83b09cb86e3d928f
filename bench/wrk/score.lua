-- wrk load for POST /v1/score: every request scores ROWS rows (default 100) of the synthetic
-- log's columns (`recforge data synth`), with user and item ids drawn from a small range so
-- most rows hit the vocabulary and some fall to OOV.
--   ROWS=100 wrk -t2 -c32 -d30s --latency -s bench/wrk/score.lua http://127.0.0.1:8080
-- Needs a server started with `recforge serve --ranker RUN_DIR` on a model trained on the
-- synthetic schema (see docs/http-api.md#post-v1score).

local rows = tonumber(os.getenv("ROWS") or "100")

local function row(i)
  return string.format(
    '{"user_id":"u%d","item_id":"i%d","category":"c%d","tags":["t%d","t%d"],"price":%.2f,"age":%d}',
    i % 500, (i * 7) % 300, i % 20, i % 50, (i * 3) % 50, 5 + (i % 40) * 0.75, 18 + i % 50)
end

local parts = {}
for i = 1, rows do
  parts[i] = row(i)
end

wrk.method = "POST"
wrk.path = "/v1/score"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"rows":[' .. table.concat(parts, ",") .. ']}'
