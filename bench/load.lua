-- wrk script for bench/load.py. BENCH_MODE picks the requests:
--   mixed    (default) 100 KB raw uploads (PUT, each body unique, so every upload is a real new file:
--            hash, fsync, record) and /i/ downloads of files uploaded beforehand, BENCH_UPLOAD_RATIO
--            of them uploads;
--   upload   only uploads, as multipart/form-data POST / (one part, field "file", filename "x.bin",
--            application/octet-stream: what aiohttp's FormData sends), each file unique;
--   download only GETs of the BENCH_PATHS.
-- Environment: BENCH_MODE, BENCH_PATHS (comma-separated /i/ paths), BENCH_UPLOAD_RATIO (0..1),
-- BENCH_UPLOAD_BYTES (the file's size), BENCH_RUN (a tag that keeps bodies unique across runs),
-- BENCH_EXPECT (comma-separated statuses every answer must have, e.g. "201"; empty: no check here,
-- wrk still counts every status >= 400 as an error). With BENCH_EXPECT set, wrk hands each response
-- to Lua (a copy of every body), which costs the client CPU: download mode leaves it empty.

local mode = os.getenv("BENCH_MODE") or "mixed"
local paths = {}
for p in string.gmatch(os.getenv("BENCH_PATHS") or "", "[^,]+") do
  paths[#paths + 1] = p
end
local ratio = tonumber(os.getenv("BENCH_UPLOAD_RATIO") or "0.5")
if mode == "upload" or #paths == 0 then
  ratio = 1
elseif mode == "download" then
  ratio = 0
end
local size = tonumber(os.getenv("BENCH_UPLOAD_BYTES") or "102400")
local run = os.getenv("BENCH_RUN") or "run"
local HEAD = 48 -- bytes of each file that make it unique: "<run>-<thread>-<counter>", space-padded
-- mixed keeps its text filler (comparable with earlier runs); upload sends binary files, as a client
-- uploading real files would (sniffed as application/octet-stream, so no text preview work).
local filler
if mode == "upload" then
  math.randomseed(size)
  local bytes = {}
  for i = 1, math.max(0, size - HEAD) do
    bytes[i] = string.char(math.random(0, 255))
  end
  filler = table.concat(bytes)
else
  filler = string.rep("x", math.max(0, size - HEAD))
end
local put_headers = { ["Accept"] = "application/json", ["Content-Type"] = "application/octet-stream" }

local boundary = "tpbench" .. string.gsub(run, "[^%w]", "")
local part_open = "--" .. boundary .. "\r\n" ..
  'Content-Disposition: form-data; name="file"; filename="x.bin"\r\n' ..
  "Content-Type: application/octet-stream\r\n\r\n"
local part_close = "\r\n--" .. boundary .. "--\r\n"
local form_headers = { ["Accept"] = "application/json",
                       ["Content-Type"] = "multipart/form-data; boundary=" .. boundary }

local expected = {}
local checking = false
for s in string.gmatch(os.getenv("BENCH_EXPECT") or "", "%d+") do
  expected[tonumber(s)] = true
  checking = true
end

local threads = {}
local next_id = 1
function setup(thread)
  thread:set("tid", next_id)
  next_id = next_id + 1
  threads[#threads + 1] = thread
end

local counter = 0
unexpected = 0        -- answers whose status is not in BENCH_EXPECT (read by done() through thread:get)
unexpected_sample = ""
function init(args)
  math.randomseed(tid * 7919 + os.time())
end

local function unique_head()
  counter = counter + 1
  return string.format("%-" .. HEAD .. "s", string.format("%s-%d-%d", run, tid, counter))
end

function request()
  if ratio >= 1 or (ratio > 0 and math.random() < ratio) then
    local body = unique_head() .. filler
    if mode == "upload" then
      return wrk.format("POST", "/", form_headers, part_open .. body .. part_close)
    end
    return wrk.format("PUT", "/bench.bin", put_headers, body)
  end
  return wrk.format("GET", paths[math.random(#paths)])
end

if checking then
  function response(status, headers, body)
    if not expected[status] then
      unexpected = unexpected + 1
      if unexpected_sample == "" then
        unexpected_sample = string.sub(status .. " " .. (body or ""), 1, 200)
      end
    end
  end
end

local function json_string(s)
  return '"' .. string.gsub(s, '[%c"\\]', function(c) return string.format("\\u%04x", string.byte(c)) end) .. '"'
end

function done(summary, latency, requests)
  local e = summary.errors
  local bad, sample = 0, ""
  for _, thread in ipairs(threads) do
    bad = bad + (thread:get("unexpected") or 0)
    local s = thread:get("unexpected_sample") or ""
    if sample == "" then sample = s end
  end
  io.write(string.format(
    'BENCH_RESULT {"requests": %d, "duration_us": %d, "bytes": %d, "connect": %d, "read": %d, ' ..
    '"write": %d, "status": %d, "timeout": %d, "unexpected": %d, "checked": %s, "unexpected_sample": %s, ' ..
    '"p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    bad, checking and "true" or "false", json_string(sample),
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
