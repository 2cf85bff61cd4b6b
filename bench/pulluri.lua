-- wrk script: POST pre-signed PullURIRequest bodies (one per line of $WRK_REQUESTS),
-- drawn at random, and count answers that are not HTTP 200 with Status="1".
-- WRK_FRESH_TXN=1 gives every request its own txn (the keyhash does not cover it), as
-- DigiLocker does, so that a server that refuses replays answers each one.
local path = os.getenv("WRK_PATH") or "/pulluri"
local file = os.getenv("WRK_REQUESTS")
local bodies = {}
local threads = {}
local headers = { ["Content-Type"] = "application/xml" }

local fresh = os.getenv("WRK_FRESH_TXN") == "1"
local sent = 0

function setup(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads)
end

function init(args)
  for line in io.lines(file) do
    bodies[#bodies + 1] = line
  end
  math.randomseed(os.time() + #threads + math.floor(os.clock() * 1000000))
  failures = 0
end

function request()
  local body = bodies[math.random(#bodies)]
  if fresh then
    sent = sent + 1
    body = string.gsub(body, 'txn="[^"]*"', 'txn="' .. tid .. "-" .. os.time() .. "-" .. sent .. '"', 1)
  end
  return wrk.format("POST", path, headers, body)
end

function response(status, hdrs, body)
  if status ~= 200 or (path ~= "/" and not string.find(body, 'Status="1"', 1, true)) then
    failures = failures + 1
  end
end

function done(summary, latency, requests)
  local f = 0
  for _, t in ipairs(threads) do
    f = f + t:get("failures")
  end
  io.write(string.format("answers that were not Status 1: %d\n", f))
  io.write(string.format("p50 %.2f ms, p99 %.2f ms, requests/s %.0f\n",
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.requests / (summary.duration / 1000000)))
end
