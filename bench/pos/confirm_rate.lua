-- confirm_rate.lua - POST /v1/receipts offered at a fixed rate (open loop), measuring the
-- latency each receipt would see at a till, corrected for coordinated omission.
--   wrk -t T -c C -d D -s confirm_rate.lua URL -- key=POS_KEY customers=N tag=f1 rate=10000 threads=T
--
-- wrk itself is closed-loop: a connection sends its next request only when the previous one
-- has answered, so a slow server is offered less and its stalls hide (coordinated omission).
-- wrk2 fixes that, but is not packaged by Debian. This script does what wrk2 does with wrk's
-- delay() hook:
--   * each wrk thread keeps a schedule of send times, one every threads/rate seconds;
--   * delay() is called before every request a connection sends: it takes the next slot of
--     the schedule and returns the milliseconds until it (0 if it is already due);
--   * request() pops the earliest slot and notes when the receipt was due: the slot if it had
--     already passed when delay() was called (every connection was busy: the receipt queued
--     at the till), else the moment it is sent (delay() has only millisecond resolution, and
--     that rounding is the client's, not the server's);
--   * response() finds the receipt id in the answer and records now - due.
-- With enough connections (most of them idle, waiting for their slot) the requests go out on
-- schedule whatever the server does; when every connection is busy the schedule falls behind
-- and the time a receipt waited for a free connection counts in its latency, as it would for
-- a till that waits. "behind" counts such receipts and "lag" (send time - due time) shows
-- how late they went out; wrk's own latency (from the actual send) is printed too as service_p50/p99.
dofile((os.getenv("LOYAL_BENCH_DIR") or ".") .. "/common.lua")

local key, customers, prefix, interval_us
local next_slot
local slots, slot_head, slot_tail = {}, 1, 0 -- FIFO of due times handed out by delay()
local due_of = {}                           -- receipt id -> due time (us)
issued = 0
answered = 0
ok = 0
unmatched = 0
behind = 0     -- receipts sent late because every connection was busy
hist = {}      -- latency histogram: 10 us buckets -> count
lag_hist = {}  -- send lag histogram: 10 us buckets -> count

local function bucket(t, us)
    local b = math.floor(us / 10)
    if b < 0 then b = 0 end
    t[b] = (t[b] or 0) + 1
end

function init(args)
    local o = parse_args(args)
    key, customers = o.key, tonumber(o.customers or 100000)
    prefix = (o.tag or "f") .. "-" .. thread_id .. "-"
    local rate, threads = tonumber(o.rate or 10000), tonumber(o.threads or 1)
    rate_offered = rate
    interval_us = 1e6 * threads / rate
    math.randomseed(15485863 * (thread_id + 1))
    make_line_sets(512)
end

function delay()
    local now = now_us()
    if not next_slot then next_slot = now end
    local slot = next_slot
    next_slot = next_slot + interval_us
    slot_tail = slot_tail + 1
    if slot <= now then
        -- behind schedule: no connection was free when this receipt was due
        slots[slot_tail] = slot
        return 0
    end
    -- on schedule: the connection waits for the slot (wrk's timers have 1 ms resolution;
    -- the latency then counts from the actual send, not charging the timer to the server)
    slots[slot_tail] = -1
    return math.floor((slot - now) / 1000)
end

function request()
    -- wrk calls request() once before the run to look at the script: nothing is sent then.
    if slot_tail == 0 then return http_request("GET", "/health", nil, nil) end
    local now = now_us()
    local due = now
    if slot_head <= slot_tail then
        due = slots[slot_head]
        slots[slot_head] = nil
        slot_head = slot_head + 1
    end
    if due < 0 or due > now then due = now else bucket(lag_hist, now - due); behind = behind + 1 end
    issued = issued + 1
    local id = prefix .. issued
    due_of[id] = due
    return http_request("POST", "/v1/receipts", key, random_receipt(id, customers))
end

function response(status, headers, body)
    local now = now_us()
    answered = answered + 1
    count_status(status, body)
    if status >= 200 and status <= 299 then ok = ok + 1 end
    local id = body and body:match('"receipt_id"%s*:%s*"([^"]+)"')
    local due = id and due_of[id]
    if due then
        due_of[id] = nil
        bucket(hist, now - due)
    else
        unmatched = unmatched + 1
    end
end

-- Percentiles (ms) of merged 10-us histograms.
local function merged(name)
    local all, n = {}, 0
    for _, t in ipairs(bench_threads) do
        local h = t:get(name)
        if type(h) == "table" then
            for b, c in pairs(h) do all[b] = (all[b] or 0) + c; n = n + c end
        end
    end
    local keys = {}
    for b in pairs(all) do table.insert(keys, b) end
    table.sort(keys)
    local function pct(p)
        if n == 0 then return 0 end
        local want, run = math.ceil(n * p / 100), 0
        for _, b in ipairs(keys) do
            run = run + all[b]
            if run >= want then return (b + 1) * 10 / 1000 end
        end
        return (keys[#keys] + 1) * 10 / 1000
    end
    return pct, n
end

function done(summary, latency, requests)
    local dur = summary.duration / 1e6
    local pct, n = merged("hist")
    local lag = merged("lag_hist")
    local e = summary.errors
    local sock = e.connect + e.read + e.write + e.timeout
    local statuses = threads_statuses("statuses")
    io.write(string.format(
        "RESULT name=confirm_rate offered_rps=%d sent_rps=%.0f rps=%.0f ok=%d issued=%d answered=%d measured=%d " ..
        "p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f p999_ms=%.3f max_ms=%.3f service_p50_ms=%.3f service_p99_ms=%.3f " ..
        "behind=%d lag_p99_ms=%.3f lag_max_ms=%.3f http_errors=%d sock_errors=%d unmatched=%d statuses=%s\n",
        bench_threads[1]:get("rate_offered") or 0, threads_sum("issued") / dur, threads_sum("ok") / dur, threads_sum("ok"), threads_sum("issued"),
        threads_sum("answered"), n, pct(50), pct(90), pct(99), pct(99.9), pct(100),
        latency:percentile(50) / 1000, latency:percentile(99) / 1000, threads_sum("behind"), lag(99), lag(100),
        e.status, sock, threads_sum("unmatched"), statuses))
    threads_print_samples("error_samples")
end
