-- confirm.lua - POST /v1/receipts as fast as wrk can: confirm a receipt for a random customer
-- among the seeded ones. Every receipt id is new (tag-thread-counter), so each request is a
-- real confirmation: earn (and for ~30% a redemption) written and fsynced before the answer.
--   wrk ... -s confirm.lua URL -- key=POS_KEY customers=100000 tag=c1 [path=/v1/receipts] [name=confirm]
dofile((os.getenv("LOYAL_BENCH_DIR") or ".") .. "/common.lua")

local key, customers, prefix, path
issued = 0

function init(args)
    local o = parse_args(args)
    key, customers = o.key, tonumber(o.customers or 100000)
    path = o.path or "/v1/receipts"
    prefix = (o.tag or "r") .. "-" .. thread_id .. "-"
    math.randomseed(7919 * (thread_id + 1) + #prefix)
    make_line_sets(512)
end

function request()
    issued = issued + 1
    return http_request("POST", path, key, random_receipt(prefix .. issued, customers))
end

function done(summary, latency, requests)
    result_line(os.getenv("LOYAL_BENCH_NAME") or "confirm", summary, latency,
                " issued=" .. threads_sum("issued"))
end
