-- Mixed load, the misses: every request searches BENCH_COLLECTION with a
-- new pseudo-random query vector (a fixed seed, so runs repeat, but no
-- vector repeats within a run), which the edge cannot have cached.
dofile(os.getenv("BENCH_D") .. "/common.lua")

local path = "/v1/collections/" .. os.getenv("BENCH_COLLECTION") .. "/search"

function setup(thread) track_threads(thread) end
function init(args) math.randomseed(20260) end

function request()
  return wrk.format("POST", path, json_headers(), '{"vector":' .. random_vector(1536) .. ',"k":10}')
end

response = count_response
function done(summary, latency, requests) report(summary, latency) end
