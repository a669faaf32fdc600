-- wrk script for bench/load.py: a mix of 100 KB uploads (PUT, each body unique, so every upload
-- is a real new file: hash, fsync, record) and raw downloads of files uploaded beforehand.
-- Environment: BENCH_PATHS (comma-separated /i/ paths), BENCH_UPLOAD_RATIO (0..1),
-- BENCH_UPLOAD_BYTES, BENCH_RUN (a tag that keeps bodies unique across runs).

local paths = {}
for p in string.gmatch(os.getenv("BENCH_PATHS") or "", "[^,]+") do
  paths[#paths + 1] = p
end
local ratio = tonumber(os.getenv("BENCH_UPLOAD_RATIO") or "0.5")
local size = tonumber(os.getenv("BENCH_UPLOAD_BYTES") or "102400")
local run = os.getenv("BENCH_RUN") or "run"
local filler = string.rep("x", size - 48)
local upload_headers = { ["Accept"] = "application/json", ["Content-Type"] = "application/octet-stream" }

local next_id = 1
function setup(thread)
  thread:set("tid", next_id)
  next_id = next_id + 1
end

local counter = 0
function init(args)
  math.randomseed(tid * 7919 + os.time())
end

function request()
  counter = counter + 1
  if #paths == 0 or math.random() < ratio then
    local head = string.format("%-48s", string.format("%s-%d-%d", run, tid, counter))
    return wrk.format("PUT", "/bench.bin", upload_headers, head .. filler)
  end
  return wrk.format("GET", paths[math.random(#paths)])
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests": %d, "duration_us": %d, "bytes": %d, "connect": %d, "read": %d, ' ..
    '"write": %d, "status": %d, "timeout": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
