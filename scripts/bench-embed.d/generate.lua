-- embeddings/generate of one text over one kept-alive connection, for
-- scripts/bench-embed: BENCH_PATH, BENCH_TEXT (JSON-safe), and with
-- BENCH_NEW=1 a new number in front of the text each time (so that the
-- model embeds it), else the same text (the edge's embedding cache answers).
dofile(os.getenv("BENCH_D") .. "/common.lua")

local path, text = os.getenv("BENCH_PATH"), os.getenv("BENCH_TEXT")
local function body(t) return '{"texts": ["' .. t .. '"]}' end

wrk.method = "POST"
wrk.path = path
wrk.body = body(text)
for name, value in pairs(json_headers()) do wrk.headers[name] = value end

if os.getenv("BENCH_NEW") == "1" then
  local n = 0
  function request()
    n = n + 1
    return wrk.format(nil, path, nil, body("w" .. n .. " " .. text))
  end
end

function done(summary, latency, requests) report(summary, latency) end
