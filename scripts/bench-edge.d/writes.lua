-- Mixed load, the writes: single-vector upserts of pseudo-random vectors
-- into BENCH_COLLECTION, over ids w0 .. w4999 (so the collection stops
-- growing after one run).
dofile(os.getenv("BENCH_D") .. "/common.lua")

local path = "/v1/collections/" .. os.getenv("BENCH_COLLECTION") .. "/vectors"
local i = 0

function setup(thread) track_threads(thread) end
function init(args) math.randomseed(777) end

function request()
  i = i + 1
  local body = '{"vectors":[{"id":"w' .. (i % 5000) .. '","values":' .. random_vector(1536) .. '}]}'
  return wrk.format("PUT", path, json_headers(), body)
end

response = count_response
function done(summary, latency, requests) report(summary, latency) end
