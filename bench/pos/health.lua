-- health.lua - GET /health as fast as wrk can: the ceiling of the HTTP layer (no database,
-- no authentication).   wrk ... -s health.lua URL -- [name=health]
dofile((os.getenv("LOYAL_BENCH_DIR") or ".") .. "/common.lua")

local req
function init(args)
    opts = parse_args(args)
    req = http_request("GET", "/health", nil, nil)
end

function request() return req end

function done(summary, latency, requests)
    result_line("health", summary, latency)
end
