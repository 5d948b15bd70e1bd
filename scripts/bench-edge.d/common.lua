-- Shared by the wrk scripts of scripts/bench-edge: the one line each run
-- prints for the bash driver to parse, and the request pieces.
--
-- wrk runs a script's top level once in its main Lua state and once in
-- each thread's; response() runs in the thread, done() in the main state,
-- so per-response counters are read back from the threads with
-- thread:get() (see track_threads).

local key = os.getenv("BENCH_KEY") or ""

-- The headers of an authenticated JSON request.
function json_headers()
  local h = { ["Content-Type"] = "application/json" }
  if key ~= "" then h["Authorization"] = "Bearer " .. key end
  return h
end

-- `n` pseudo-random floats in [-1, 1), as a JSON array. math.random is
-- LuaJIT's seeded PRNG: the same seed gives the same vectors on every run.
function random_vector(n)
  local v = {}
  for i = 1, n do v[i] = string.format("%.5f", 2 * math.random() - 1) end
  return "[" .. table.concat(v, ",") .. "]"
end

-- Counters a script's response() keeps (in its thread).
non2xx = 0
cache_hit, cache_miss, cache_stale, cache_bypass, cache_none = 0, 0, 0, 0, 0

-- A response() that counts non-2xx answers and x-zerodb-cache values.
-- Defining response() makes wrk parse every answer's headers, which costs
-- wrk some throughput: only the mixed load's scripts use it.
function count_response(status, headers, body)
  if status < 200 or status > 299 then non2xx = non2xx + 1 end
  local c = headers["x-zerodb-cache"] or headers["X-Zerodb-Cache"]
  if c == "hit" then cache_hit = cache_hit + 1
  elseif c == "miss" then cache_miss = cache_miss + 1
  elseif c == "stale" then cache_stale = cache_stale + 1
  elseif c == "bypass" then cache_bypass = cache_bypass + 1
  else cache_none = cache_none + 1 end
end

local threads = {}
function track_threads(thread) table.insert(threads, thread) end

-- Sums a counter over the threads (-1 when no thread was tracked, i.e. the
-- script keeps no such counter).
local function from_threads(name)
  if #threads == 0 then return -1 end
  local n = 0
  for _, t in ipairs(threads) do n = n + (t:get(name) or 0) end
  return n
end

-- The line bench-edge parses. Times in ms. `status_errors` is wrk's own
-- count (answers with status >= 400); `non2xx` the exact count where the
-- script has a response() (else -1); socket errors are connect + read +
-- write + timeout.
function report(summary, latency)
  local e = summary.errors
  local secs = summary.duration / 1e6
  io.write(string.format(
    "BENCH requests=%d rps=%.1f p50_ms=%.3f p99_ms=%.3f max_ms=%.3f status_errors=%d non2xx=%d socket_errors=%d connect=%d read=%d write=%d timeout=%d hit=%d miss=%d stale=%d bypass=%d nocache=%d\n",
    summary.requests, summary.requests / secs,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000,
    e.status, from_threads("non2xx"), e.connect + e.read + e.write + e.timeout,
    e.connect, e.read, e.write, e.timeout,
    from_threads("cache_hit"), from_threads("cache_miss"), from_threads("cache_stale"),
    from_threads("cache_bypass"), from_threads("cache_none")))
end
