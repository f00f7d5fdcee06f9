-- calculate.lua - POST /v1/receipts/calculate: price a random receipt for a random customer
-- without changing anything (a read: no write job, no fsync).
--   wrk ... -s calculate.lua URL -- key=POS_KEY customers=100000
dofile((os.getenv("LOYAL_BENCH_DIR") or ".") .. "/common.lua")

local key, customers
issued = 0

function init(args)
    local o = parse_args(args)
    key, customers = o.key, tonumber(o.customers or 100000)
    math.randomseed(104729 * (thread_id + 1))
    make_line_sets(512)
end

function request()
    issued = issued + 1
    return http_request("POST", "/v1/receipts/calculate", key,
                        random_receipt("q-" .. thread_id .. "-" .. issued, customers))
end

function done(summary, latency, requests)
    result_line("calculate", summary, latency)
end
