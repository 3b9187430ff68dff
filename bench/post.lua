-- wrk script for bench/run.sh: POSTs the JSON file named by BENCH_BODY (with the bearer token in
-- BENCH_TOKEN, if set) to the URL's path, and prints one machine-readable summary line.
--   BENCH_BODY=bench/bodies/chat.json BENCH_TOKEN=cgt_... wrk -s bench/post.lua URL
local body_file = assert(os.getenv("BENCH_BODY"), "BENCH_BODY is not set")
local f = assert(io.open(body_file, "rb"))
wrk.body = f:read("*a")
f:close()
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local token = os.getenv("BENCH_TOKEN")
if token and token ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. token
end

-- errors.status counts answers that are not 2xx/3xx: bench/run.sh compares it with what the
-- path should give (0 on the allow path, every request on the deny path).
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCH_RESULT {\"requests\":%d,\"duration_us\":%d,\"bytes\":%d,\"connect\":%d," ..
    "\"read\":%d,\"write\":%d,\"status\":%d,\"timeout\":%d,\"p50_us\":%d,\"p90_us\":%d," ..
    "\"p99_us\":%d,\"max_us\":%d}\n",
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status,
    e.timeout, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max))
end
