-- balance.lua - GET /v1/customers/{id}/balance for a random customer among the seeded ones
-- (ids 1..customers in a fresh database).
--   wrk ... -s balance.lua URL -- key=POS_KEY customers=100000
dofile((os.getenv("LOYAL_BENCH_DIR") or ".") .. "/common.lua")

local key, customers
function init(args)
    local o = parse_args(args)
    key, customers = o.key, tonumber(o.customers or 100000)
    math.randomseed(1000 + thread_id)
end

function request()
    return http_request("GET", "/v1/customers/" .. math.random(1, customers) .. "/balance", key, nil)
end

function done(summary, latency, requests)
    result_line("balance", summary, latency)
end
