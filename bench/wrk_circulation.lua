-- wrk script for bench_circulation.py --wrk: POST /api/v1/circulation/events, one event a request,
-- each one a real loan of a copy not lent before or the return of a copy this thread lent
-- LAG loans earlier, with a bearer token. Run by bench_circulation.py; by hand:
--
--   wrk -t2 -c16 -d10s --latency -s bench/wrk_circulation.lua http://127.0.0.1:PORT \
--       -- loans TOKEN CODES_FILE RUN_NONCE THREADS [LAG]
--   wrk -t2 -c16 -d10s --latency -s bench/wrk_circulation.lua http://127.0.0.1:PORT -- healthz
--
-- CODES_FILE: one "copy card" pair a line (copies never lent yet); thread t of T takes the lines
-- t, t+T, t+2T, ... At the end the script prints one line "WRK_JSON {...}" with wrk's counts,
-- latency percentiles (ms), and what the answers said (status and code of each result).

local threads = {}
local next_id = 0

function setup(thread)
  thread:set("tid", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

function init(args)
  mode = args[1] or "healthz"
  answers = {}
  loans_sent, returns_sent, bad_lines = 0, 0, 0
  if mode == "healthz" then
    req = wrk.format("GET", "/healthz")
    return
  end
  token, codes_file, nonce = args[2], args[3], tonumber(args[4])
  local nthreads, lag_arg = tonumber(args[5]), tonumber(args[6] or "200")
  lag = lag_arg
  copies, cards = {}, {}
  local n = 0
  for line in io.lines(codes_file) do
    if n % nthreads == tid then
      local copy, card = line:match("^(%S+)%s+(%S+)$")
      table.insert(copies, copy)
      table.insert(cards, card)
    end
    n = n + 1
  end
  headers = {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. token}
  -- wrk calls the first thread's request() once before the run to check it, and drops that
  -- request: it must not use up a copy (else its return would find the copy not on loan)
  checking = (tid == 0)
end

local function event_id()
  -- unique per run (nonce), thread and request: a valid UUID, never sent twice
  local k = loans_sent + returns_sent
  return string.format("%08x-%04x-4000-8000-%012x", nonce, tid, k)
end

function request()
  if mode == "healthz" then
    return req
  end
  if checking then
    checking = false
    return wrk.format("GET", "/healthz")
  end
  local at = os.date("!%Y-%m-%dT%H:%M:%SZ")
  local body
  if loans_sent - returns_sent >= lag then  -- the copy lent LAG loans ago comes back
    local copy = copies[returns_sent + 1]
    body = string.format('{"events":[{"id":"%s","type":"return","copy":"%s","point":"P01","at":"%s"}]}',
                         event_id(), copy, at)
    returns_sent = returns_sent + 1
  else
    local i = loans_sent + 1
    if i > #copies then  -- out of fresh copies: the run was longer than the codes file allows
      bad_lines = bad_lines + 1
      i = #copies
    end
    body = string.format('{"events":[{"id":"%s","type":"loan","copy":"%s","card":"%s","point":"P01","at":"%s"}]}',
                         event_id(), copies[i], cards[i], at)
    loans_sent = loans_sent + 1
  end
  return wrk.format("POST", "/api/v1/circulation/events", headers, body)
end

function response(status, headers, body)
  local key = tostring(status)
  if mode ~= "healthz" and status == 200 then
    local st = body:match('"status":"(%a+)"') or "?"
    local code = body:match('"code":"([%w_]+)"') or "?"
    key = key .. " " .. st .. " " .. code
  end
  answers[key] = (answers[key] or 0) + 1
end

function done(summary, latency, requests)
  local answers_all = {}
  local sent = {loans = 0, returns = 0, out_of_copies = 0}
  for _, thread in ipairs(threads) do
    for k, v in pairs(thread:get("answers") or {}) do
      answers_all[k] = (answers_all[k] or 0) + v
    end
    sent.loans = sent.loans + (thread:get("loans_sent") or 0)
    sent.returns = sent.returns + (thread:get("returns_sent") or 0)
    sent.out_of_copies = sent.out_of_copies + (thread:get("bad_lines") or 0)
  end
  local parts = {}
  for k, v in pairs(answers_all) do
    table.insert(parts, string.format('"%s":%d', k, v))
  end
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests":%d,"duration_s":%.3f,"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"p50_ms":%.3f,"p90_ms":%.3f,"p99_ms":%.3f,"max_ms":%.3f,"sent":{"loans":%d,"returns":%d,"out_of_copies":%d},' ..
    '"answers":{%s}}\n',
    summary.requests, summary.duration / 1e6, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000, sent.loans, sent.returns, sent.out_of_copies, table.concat(parts, ",")))
end
