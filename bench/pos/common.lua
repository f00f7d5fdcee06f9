-- common.lua - shared by the bench/pos wrk scripts (loaded with dofile by each of them).
--
-- wrk runs every script in several Lua states: one per wrk thread (init, delay, request,
-- response) and one more for setup() and done(). This file is loaded in each of them, so it
-- only defines functions and reads nothing that one state could not see.
--
-- Arguments come after wrk's own, as key=value words:
--   wrk ... -s confirm.lua http://127.0.0.1:PORT -- key=ly_... customers=100000 threads=2
-- Every script prints one machine-readable line at the end:
--   RESULT name=confirm requests=... rps=... p50_ms=... p99_ms=... http_errors=... sock_errors=...

local ffi = require("ffi")
pcall(ffi.cdef, [[
typedef struct { long tv_sec; long tv_nsec; } lybench_timespec;
int clock_gettime(int clk, lybench_timespec *ts);
]])
local tsbuf = ffi.new("lybench_timespec")

-- Microseconds on the monotonic clock.
function now_us()
    ffi.C.clock_gettime(1, tsbuf)
    return tonumber(tsbuf.tv_sec) * 1000000 + math.floor(tonumber(tsbuf.tv_nsec) / 1000)
end

-- "k=v" words into a table; numbers stay strings (use tonumber).
function parse_args(args)
    local o = {}
    for _, a in ipairs(args or {}) do
        local k, v = a:match("^([%w_]+)=(.*)$")
        if k then o[k] = v else o[a] = "1" end
    end
    return o
end

-- The raw text of one request: built by hand (cheaper than wrk.format) with the bearer key.
local head_cache = {}
function http_request(method, path, key, body)
    local h = head_cache[key or ""]
    if not h then
        h = "Host: " .. wrk.host .. ":" .. tostring(wrk.port) .. "\r\n"
        if key and key ~= "" then h = h .. "Authorization: Bearer " .. key .. "\r\n" end
        head_cache[key or ""] = h
    end
    if body then
        return method .. " " .. path .. " HTTP/1.1\r\n" .. h ..
               "Content-Type: application/json\r\nContent-Length: " .. #body .. "\r\n\r\n" .. body
    end
    return method .. " " .. path .. " HTTP/1.1\r\n" .. h .. "\r\n"
end

-- ---------------------------------------------------------------------------------------
-- setup/done side: number the threads, collect their counters.
-- ---------------------------------------------------------------------------------------

bench_threads = {}

function setup(thread)
    thread:set("thread_id", #bench_threads)
    table.insert(bench_threads, thread)
end

-- Sum of a numeric global over all threads.
function threads_sum(name)
    local s = 0
    for _, t in ipairs(bench_threads) do s = s + (tonumber(t:get(name)) or 0) end
    return s
end

-- Merged {status -> count} tables of all threads, as "409:12,422:3".
function threads_statuses(name)
    local all = {}
    for _, t in ipairs(bench_threads) do
        local tab = t:get(name)
        if type(tab) == "table" then
            for k, v in pairs(tab) do all[k] = (all[k] or 0) + v end
        end
    end
    local keys = {}
    for k in pairs(all) do table.insert(keys, tonumber(k)) end
    table.sort(keys)
    local parts = {}
    for _, k in ipairs(keys) do table.insert(parts, k .. ":" .. all[k]) end
    return table.concat(parts, ",")
end

-- The first error bodies the threads kept (see keep_error), printed to stderr.
function threads_print_samples(name)
    for _, t in ipairs(bench_threads) do
        local tab = t:get(name)
        if type(tab) == "table" then
            for _, s in ipairs(tab) do io.stderr:write("  sample error response: " .. s .. "\n") end
        end
    end
end

-- The standard RESULT line from wrk's summary and latency histogram (microseconds).
function result_line(name, summary, latency, extra)
    local e = summary.errors
    local dur = summary.duration / 1e6
    local sock = e.connect + e.read + e.write + e.timeout
    local function ms(p) return latency:percentile(p) / 1000 end
    io.write(string.format(
        "RESULT name=%s requests=%d duration_s=%.2f rps=%.0f p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f " ..
        "p999_ms=%.3f max_ms=%.3f http_errors=%d sock_errors=%d%s\n",
        name, summary.requests, dur, summary.requests / dur, ms(50), ms(90), ms(99), ms(99.9),
        latency.max / 1000, e.status, sock, extra or ""))
end

-- ---------------------------------------------------------------------------------------
-- thread side
-- ---------------------------------------------------------------------------------------

-- Counts a response's status in statuses[], keeps the first few error bodies.
statuses = {}
error_samples = {}
function count_status(status, body)
    statuses[status] = (statuses[status] or 0) + 1
    if (status < 200 or status > 299) and #error_samples < 3 then
        table.insert(error_samples, tostring(status) .. " " .. tostring(body):sub(1, 300))
    end
end

-- Receipts: a catalogue of pre-built line sets (3..7 lines of random SKUs and prices), so
-- that a request only formats its id, card and redemption. Amounts in kopecks; quantities
-- in thousandths (1000 = one piece).
line_sets = {}
function make_line_sets(n)
    for i = 1, n do
        local k = math.random(3, 7)
        local parts, total = {}, 0
        for j = 1, k do
            local qty = math.random(1, 3) * 1000
            local price = math.random(50, 999) * 100 + math.random(0, 99) -- 50.00 .. 999.99
            local amount = qty / 1000 * price
            total = total + amount
            parts[j] = string.format('{"sku":"SKU%05d","qty":%d,"price":%d,"amount":%d}',
                                     math.random(1, 5000), qty, price, amount)
        end
        line_sets[i] = {json = "[" .. table.concat(parts, ",") .. "]", total = total}
    end
end

function card_of(n) return string.format("C%06d", n) end

-- One receipt's JSON. redeem: points to spend (0 = none).
function receipt_json(receipt_id, card, redeem, set)
    return '{"receipt_id":"' .. receipt_id .. '","store":"S' .. string.format("%03d", math.random(1, 200)) ..
           '","customer":{"card":"' .. card .. '"},"redeem_points":' .. redeem ..
           ',"total":' .. set.total .. ',"lines":' .. set.json .. '}'
end

-- A random receipt for a random customer among `customers`; about 30% redeem 1..100 points
-- (each customer got a bonus at seeding so that redemptions can succeed), never more than
-- the example program lets a receipt take (half of it, one point = 1.00).
function random_receipt(receipt_id, customers)
    local set = line_sets[math.random(1, #line_sets)]
    local redeem = 0
    if math.random() < 0.3 then redeem = math.min(math.random(1, 100), math.floor(set.total / 200)) end
    return receipt_json(receipt_id, card_of(math.random(1, customers)), redeem, set)
end
