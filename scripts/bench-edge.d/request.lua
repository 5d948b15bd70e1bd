-- One fixed request, repeated: the per-path runs of scripts/bench-edge.
-- BENCH_METHOD (GET), BENCH_BODY_FILE (optional, sent as JSON) and
-- BENCH_KEY (optional bearer key) describe it. No request() or response()
-- callback: wrk then sends its precomputed request at full speed, the same
-- way for nginx and for the edge.
dofile(os.getenv("BENCH_D") .. "/common.lua")

wrk.method = os.getenv("BENCH_METHOD") or "GET"
for name, value in pairs(json_headers()) do wrk.headers[name] = value end
local file = os.getenv("BENCH_BODY_FILE") or ""
if file ~= "" then
  local f = assert(io.open(file, "rb"))
  wrk.body = f:read("*a")
  f:close()
else
  wrk.headers["Content-Type"] = nil
end

function done(summary, latency, requests) report(summary, latency) end
