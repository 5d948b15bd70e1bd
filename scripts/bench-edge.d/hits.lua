-- Mixed load, the hits: round-robin over BENCH_QUERIES (64) fixed queries
-- on BENCH_COLLECTION, which bench-edge asks before timing (a warm-up run
-- of this same script), so that they are answered from the edge's cache.
-- Counts x-zerodb-cache values to show how many really were hits.
dofile(os.getenv("BENCH_D") .. "/common.lua")

local collection = os.getenv("BENCH_COLLECTION")
local n = tonumber(os.getenv("BENCH_QUERIES") or "64")
local prepared, i = {}, 0

function setup(thread) track_threads(thread) end

function init(args)
  -- The same seed in every run and every thread: the same 64 queries.
  math.randomseed(1515)
  for q = 1, n do
    local body = '{"vector":' .. random_vector(1536) .. ',"k":10}'
    prepared[q] = wrk.format("POST", "/v1/collections/" .. collection .. "/search", json_headers(), body)
  end
end

function request()
  i = i % n + 1
  return prepared[i]
end

response = count_response
function done(summary, latency, requests) report(summary, latency) end
