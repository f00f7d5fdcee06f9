-- seed.lua - makes a fixed number of requests through the API, then stops:
--   what=enrol   POST /v1/customers {"card":"C000001"} for cards 1..customers
--   what=bonus   POST /v1/customers/{id}/adjustments, a bonus for ids 1..customers, so that
--                receipts can redeem points at once (earned points wait out the return window)
--   wrk -t T -c C -d 300s -s seed.lua URL -- what=enrol key=KEY customers=N threads=T marker=DIR/seed
--
-- wrk only stops at the end of -d: each thread stops itself once all of its requests have
-- been answered and writes MARKER.what.THREAD with its counts; run.sh waits for every
-- thread's marker and then interrupts wrk (SIGINT), which prints the totals.
dofile((os.getenv("LOYAL_BENCH_DIR") or ".") .. "/common.lua")

local key, nthreads, customers, marker, quota, bonus
what = "enrol"
t_start, t_end = 0, 0
reserved = 0 -- requests promised a send by delay()
issued = 0
answered = 0
ok = 0
local finished = false

function init(args)
    local o = parse_args(args)
    key, what = o.key, o.what or "enrol"
    customers, nthreads = tonumber(o.customers or 100000), tonumber(o.threads or 1)
    bonus = tonumber(o.points or 1000)
    marker = o.marker
    t_start = now_us()
    -- this thread's numbers: thread_id+1, thread_id+1+nthreads, ...
    quota = 0
    if customers > thread_id then quota = math.floor((customers - thread_id - 1) / nthreads) + 1 end
end

local function finish()
    if finished then return end
    finished = true
    t_end = now_us()
    if marker then
        local f = io.open(marker .. "." .. what .. "." .. thread_id, "w")
        if f then
            f:write(string.format("issued=%d answered=%d ok=%d\n", issued, answered, ok))
            f:close()
        end
    end
    wrk.thread:stop()
end

-- A connection may send only while this thread has requests left; the others wait an hour.
function delay()
    if reserved < quota then
        reserved = reserved + 1
        return 0
    end
    if quota == 0 then finish() end
    return 3600 * 1000
end

function request()
    -- wrk calls request() once before the run to look at the script: nothing is sent then
    -- (every real send follows a delay()), so that call must not use up a number.
    if reserved == 0 then return http_request("GET", "/health", nil, nil) end
    local n = thread_id + 1 + issued * nthreads
    issued = issued + 1
    if what == "bonus" then
        return http_request("POST", "/v1/customers/" .. n .. "/adjustments", key,
                            '{"adjustment_id":"seed-bonus-' .. n .. '","points":' .. bonus ..
                            ',"kind":"bonus","note":"bench seed"}')
    end
    return http_request("POST", "/v1/customers", key, '{"card":"' .. card_of(n) .. '"}')
end

function response(status, headers, body)
    answered = answered + 1
    count_status(status, body)
    if status >= 200 and status <= 299 then ok = ok + 1 end
    if answered >= quota then finish() end
end

function done(summary, latency, requests)
    local t0, t1 = math.huge, 0
    for _, t in ipairs(bench_threads) do
        t0 = math.min(t0, tonumber(t:get("t_start")) or math.huge)
        t1 = math.max(t1, tonumber(t:get("t_end")) or 0)
    end
    local dur = (t1 > t0) and (t1 - t0) / 1e6 or summary.duration / 1e6
    local e = summary.errors
    io.write(string.format(
        "RESULT name=seed-%s ok=%d answered=%d issued=%d duration_s=%.2f rps=%.0f p50_ms=%.3f p99_ms=%.3f " ..
        "http_errors=%d sock_errors=%d statuses=%s\n",
        bench_threads[1]:get("what") or "?",
        threads_sum("ok"), threads_sum("answered"), threads_sum("issued"), dur,
        threads_sum("answered") / dur, latency:percentile(50) / 1000, latency:percentile(99) / 1000,
        e.status, e.connect + e.read + e.write + e.timeout, threads_statuses("statuses")))
    threads_print_samples("error_samples")
end
