#!/usr/bin/env bash
# bench/pos/run.sh - the checkout benchmark: how fast Loyal answers the calls a till makes.
#
#   bench/pos/run.sh [--customers 100000] [--duration 20s] [--connections 64] [--threads 2]
#                    [--rate 10000] [--rate-connections 128] [--sync full|normal]
#                    [--server-threads N] [--profile] [--keep]
#
# Builds Loyal if needed, starts `loyal serve` on a fresh database in a temporary directory
# (127.0.0.1, a free port, --sync full), seeds customers through the API, runs wrk against
# /health, confirm, calculate and balance, then confirm at a fixed offered rate; stops the
# server, runs `loyal check` and checks that every acknowledged receipt is in the database.
# bench/pos/README.md explains the method and records results. Figures, not a test: the exit
# status is 1 only when something went wrong (errors, a dirty check, lost receipts).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)

customers=100000
duration=20s
connections=64
threads=2
rate=10000
rate_connections=128
sync=full
server_threads=
profile=0
keep=0

usage() { awk 'NR == 1 { next } /^#/ { sub(/^# ?/, ""); print; next } { exit }' "$0"; }
while [ $# -gt 0 ]; do
    case "$1" in
    --customers) customers=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --connections) connections=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --rate) rate=$2; shift 2 ;;
    --rate-connections) rate_connections=$2; shift 2 ;;
    --sync) sync=$2; shift 2 ;;
    --server-threads) server_threads=$2; shift 2 ;;
    --profile) profile=1; shift ;;
    --keep) keep=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) echo "run.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
    esac
done

say() { printf '\033[1m== %s\033[0m\n' "$*" >&2; }
loud() {
    printf '\033[1;31m' >&2
    printf '!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n' >&2
    printf '!!! %s\n' "$@" >&2
    printf '!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n' >&2
    printf '\033[0m' >&2
}
problems=()
problem() { problems+=("$*"); loud "$@"; }

# ---------------------------------------------------------------------------------------
# The binary and the tools
# ---------------------------------------------------------------------------------------
if [ -n "${LOYAL_BIN:-}" ]; then
    bin=$LOYAL_BIN
    command -v wrk >/dev/null && command -v sqlite3 >/dev/null || "$root/scripts/setup.sh"
else
    build=${LOYAL_BUILD_DIR:-$root/build}
    bin=$build/loyal
    "$root/scripts/setup.sh"
    if [ ! -x "$bin" ] || [ -n "$(find "$root/src" "$root/CMakeLists.txt" -newer "$bin" -print -quit)" ]; then
        # What scripts/build.sh does, for the one target the benchmark needs (so that a test
        # that does not build yet does not stop it).
        say "building loyal into $build"
        cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
        cmake --build "$build" -j"$(nproc)" --target loyal >&2
    fi
fi
[ -x "$bin" ] || { echo "run.sh: no loyal binary at $bin" >&2; exit 1; }

# ---------------------------------------------------------------------------------------
# A fresh database, keys, the server
# ---------------------------------------------------------------------------------------
tmp=$(mktemp -d "${TMPDIR:-/tmp}/loyal-bench.XXXXXX")
db=$tmp/loyal.db
program=$tmp/program.json
server_pid=
wrk_pid=
perf_pid=

stop_server() {
    [ -n "$server_pid" ] || return 0
    local rc=0
    if kill -0 "$server_pid" 2>/dev/null; then
        kill -TERM "$server_pid" 2>/dev/null || true
        for _ in $(seq 1 100); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
        if kill -0 "$server_pid" 2>/dev/null; then
            echo "run.sh: the server did not stop in 10 s; killing it" >&2
            kill -KILL "$server_pid" 2>/dev/null || true
        fi
    fi
    wait "$server_pid" 2>/dev/null || rc=$?
    server_pid=
    return $rc
}
cleanup() {
    [ -n "$wrk_pid" ] && kill -KILL "$wrk_pid" 2>/dev/null || true
    [ -n "$perf_pid" ] && kill -INT "$perf_pid" 2>/dev/null || true
    stop_server || true
    if [ "$keep" = 1 ]; then echo "run.sh: kept $tmp" >&2; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

cp "$root/examples/program.json" "$program"
"$bin" init --db "$db" --program "$program" --no-keys >/dev/null
pos_key=$("$bin" keys create --role pos --label bench --db "$db" --program "$program" 2>/dev/null)
admin_key=$("$bin" keys create --role admin --label bench --db "$db" --program "$program" 2>/dev/null)

serve_args=(serve --db "$db" --program "$program" --listen 127.0.0.1:0 --sync "$sync")
[ -n "$server_threads" ] && serve_args+=(--threads "$server_threads")
"$bin" "${serve_args[@]}" 2>"$tmp/server.log" &
server_pid=$!
port=
for _ in $(seq 1 150); do
    port=$(sed -n 's|.*listening on http://127\.0\.0\.1:\([0-9]*\).*|\1|p' "$tmp/server.log" | head -1)
    [ -n "$port" ] && break
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
done
if [ -z "$port" ]; then
    cat "$tmp/server.log" >&2
    echo "run.sh: the server did not start" >&2
    exit 1
fi
url=http://127.0.0.1:$port
say "loyal serve on $url (pid $server_pid, --sync $sync), database $db"

export LOYAL_BENCH_DIR=$here
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$2" | head -1; }
num() { local v; v=$(field "$1" "$2"); [[ $v =~ ^[0-9]+$ ]] && echo "$v" || echo 0; }
server_alive() { kill -0 "$server_pid" 2>/dev/null; }

# A request as the Lua scripts make it, to see an error's text and to fail early.
sample_receipt() {
    printf '{"receipt_id":"%s","store":"S001","customer":{"card":"C000001"},"redeem_points":%s,"total":30000,"lines":[{"sku":"SKU00001","qty":1000,"price":10000,"amount":10000},{"sku":"SKU00002","qty":2000,"price":10000,"amount":20000}]}' "$1" "$2"
}
curl_show() { # METHOD PATH KEY [BODY]: prints "STATUS BODY"
    local args=(-s -o "$tmp/curl.body" -w '%{http_code}' -X "$1" -H "Authorization: Bearer $3")
    [ $# -ge 4 ] && args+=(-H 'Content-Type: application/json' --data-binary "$4")
    local code
    code=$(curl "${args[@]}" "$url$2" || true)
    echo "$code $(head -c 600 "$tmp/curl.body")"
}

# ---------------------------------------------------------------------------------------
# Seeding: customers (cards C000001..), and a bonus for each so that redemptions succeed
# ---------------------------------------------------------------------------------------
seed() { # what key
    local what=$1 key=$2 out=$tmp/seed-$1.out
    rm -f "$tmp"/seed."$what".*
    wrk -t "$threads" -c "$connections" -d 600s --timeout 10s -s "$here/seed.lua" "$url" -- \
        what="$what" key="$key" customers="$customers" threads="$threads" marker="$tmp/seed" >"$out" 2>&1 &
    wrk_pid=$!
    local n=0
    while kill -0 "$wrk_pid" 2>/dev/null; do
        n=$(find "$tmp" -maxdepth 1 -name "seed.$what.*" | wc -l)
        [ "$n" -ge "$threads" ] && break
        server_alive || break
        sleep 0.1
    done
    kill -INT "$wrk_pid" 2>/dev/null || true
    wait "$wrk_pid" 2>/dev/null || true
    wrk_pid=
    local r
    r=$(grep '^RESULT' "$out" || true)
    if [ -z "$r" ]; then cat "$out" >&2; problem "seeding ($what) produced no result"; return 1; fi
    printf '   %s\n' "$r" >&2
    grep 'sample error' "$out" >&2 || true
    if [ "$(field ok "$r")" != "$customers" ]; then
        problem "seeding ($what): $(field ok "$r") of $customers succeeded (statuses $(field statuses "$r"))"
        return 1
    fi
}

say "seeding $customers customers through POST /v1/customers"
seed enrol "$pos_key" || exit 1
say "giving each a 1000-point bonus through POST /v1/customers/{id}/adjustments"
seed bonus "$admin_key" || exit 1

say "smoke: one calculate, one balance, one confirm with curl"
smoke_ok=1
s=$(curl_show POST /v1/receipts/calculate "$pos_key" "$(sample_receipt smoke-calc 10)"); echo "   calculate: $s" >&2
[[ $s == 2* ]] || smoke_ok=0
s=$(curl_show GET /v1/customers/1/balance "$pos_key"); echo "   balance:   $s" >&2
[[ $s == 2* ]] || smoke_ok=0
s=$(curl_show POST /v1/receipts "$pos_key" "$(sample_receipt smoke-1 10)"); echo "   confirm:   $s" >&2
[[ $s == 2* ]] || smoke_ok=0
[ "$smoke_ok" = 1 ] || { problem "the smoke requests failed: the benchmark's requests do not match the API"; exit 1; }
smoke_receipts=1

# ---------------------------------------------------------------------------------------
# The runs
# ---------------------------------------------------------------------------------------
declare -A res
run_wrk() { # name script wrk-options... -- script-args...
    local name=$1 script=$2
    shift 2
    local out=$tmp/$name.out
    LOYAL_BENCH_NAME=$name wrk --latency --timeout 10s "$@" >"$out" 2>&1 || true
    local r
    r=$(grep '^RESULT' "$out" || true)
    if [ -z "$r" ]; then
        cat "$out" >&2
        problem "$name: wrk produced no result"
        r="RESULT name=$name rps=0 p50_ms=- p99_ms=- http_errors=? sock_errors=?"
    fi
    res[$name]=$r
    printf '   %s\n' "$r" >&2
    grep -E 'Non-2xx|Socket errors|sample error' "$out" >&2 || true
    local he se
    he=$(field http_errors "$r")
    se=$(field sock_errors "$r")
    if [ "$he" != 0 ] || [ "$se" != 0 ]; then
        problem "$name: $he HTTP error responses (status >= 400) and $se socket errors/timeouts"
    fi
    server_alive || { problem "the server died during $name"; tail -20 "$tmp/server.log" >&2; exit 1; }
}
wrk_common=(-t "$threads" -c "$connections" -d "$duration")

say "GET /health ($duration, $connections connections, $threads wrk threads)"
run_wrk health health.lua "${wrk_common[@]}" -s "$here/health.lua" "$url"

# The writer's counters from /metrics: "commits jobs seconds".
store_counters() {
    local v
    for _ in 1 2 3 4 5; do
        v=$(curl -s -m 5 "$url/metrics" | awk '$1=="loyal_store_commits_total"{c=$2}
            $1=="loyal_store_jobs_total"{j=$2} $1=="loyal_store_commit_seconds_total"{s=$2}
            END{printf "%d %d %.6f\n", c, j, s}')
        [ "${v%% *}" != 0 ] && break
        sleep 0.2
    done
    echo "$v"
}
group_report() { # name "before" "after"
    read -r c0 j0 s0 <<<"$2"
    read -r c1 j1 s1 <<<"$3"
    if [ "$c0" = 0 ] || [ "$c1" = 0 ]; then
        echo "   $1: /metrics did not answer with the store's counters" >&2
        return 0
    fi
    awk -v n="$1" -v c=$((c1 - c0)) -v j=$((j1 - j0)) -v s0="$s0" -v s1="$s1" 'BEGIN{
        if (c > 0) printf "   %s: %d group commits, %.1f jobs per group, %.2f ms per group, writer busy %.1f s\n",
            n, c, j / c, 1000 * (s1 - s0) / c, s1 - s0 }' >&2
}

say "POST /v1/receipts, confirm, as fast as possible ($duration)"
# With --profile: perf on the server during a run, then its functions by inclusive share.
profile_start() {
    [ "$profile" = 1 ] || return 0
    perf record --call-graph dwarf,16384 -F 199 -p "$server_pid" -o "$tmp/perf-$1.data" \
        >/dev/null 2>"$tmp/perf-$1.log" &
    perf_pid=$!
}
profile_stop() {
    [ -n "$perf_pid" ] || return 0
    kill -INT "$perf_pid" 2>/dev/null || true
    wait "$perf_pid" 2>/dev/null || true
    perf_pid=
    keep=1
    perf report -i "$tmp/perf-$1.data" --stdio --children --sort sym -g none --percent-limit 2 \
        >"$tmp/perf-$1.txt" 2>/dev/null || true
    say "perf during $1: functions by inclusive share of the server's samples ($tmp/perf-$1.data)"
    grep -E '^ +[0-9]' "$tmp/perf-$1.txt" | grep -v '\] 0x0000' | head -45 >&2 || true
}
profile_start confirm
before=$(store_counters)
run_wrk confirm confirm.lua "${wrk_common[@]}" -s "$here/confirm.lua" "$url" -- \
    key="$pos_key" customers="$customers" tag=c threads="$threads"
group_report confirm "$before" "$(store_counters)"
profile_stop confirm

say "POST /v1/receipts/calculate ($duration)"
profile_start calculate
run_wrk calculate calculate.lua "${wrk_common[@]}" -s "$here/calculate.lua" "$url" -- \
    key="$pos_key" customers="$customers" threads="$threads"
profile_stop calculate

say "GET /v1/customers/{id}/balance ($duration)"
profile_start balance
run_wrk balance balance.lua "${wrk_common[@]}" -s "$here/balance.lua" "$url" -- \
    key="$pos_key" customers="$customers" threads="$threads"
profile_stop balance

say "POST /v1/receipts offered at $rate/s ($duration, $rate_connections connections)"
before=$(store_counters)
run_wrk rate confirm_rate.lua -t "$threads" -c "$rate_connections" -d "$duration" \
    -s "$here/confirm_rate.lua" "$url" -- \
    key="$pos_key" customers="$customers" tag=f rate="$rate" threads="$threads"

group_report "confirm at $rate/s" "$before" "$(store_counters)"
curl -s "$url/metrics" >"$tmp/metrics.txt" || true

# ---------------------------------------------------------------------------------------
# Stop, check, count
# ---------------------------------------------------------------------------------------
say "stopping the server"
stop_rc=0
stop_server || stop_rc=$?
[ "$stop_rc" = 0 ] || problem "loyal serve exited with status $stop_rc"
grep -iE 'error|fatal|assert' "$tmp/server.log" >&2 && problem "the server log has errors" || true

say "loyal check"
check_rc=0
"$bin" check --db "$db" >"$tmp/check.out" 2>&1 || check_rc=$?
tail -5 "$tmp/check.out" >&2
[ "$check_rc" = 0 ] || problem "loyal check found mismatches (exit $check_rc)"

n_customers=$(sqlite3 "$db" 'SELECT count(*) FROM customers' 2>&1 || true)
n_receipts=$(sqlite3 "$db" 'SELECT count(*) FROM receipts' 2>&1 || true)
c=${res[confirm]} f=${res[rate]}
c_ok=$(($(num requests "$c") - $(num http_errors "$c")))
acked=$((c_ok + $(num ok "$f") + smoke_receipts))
issued=$(($(num issued "$c") + $(num issued "$f") + smoke_receipts))
say "receipts in the database: $n_receipts; acknowledged (2xx): $acked; sent: $issued"
if ! [[ $n_receipts =~ ^[0-9]+$ ]]; then
    problem "cannot count receipts: $n_receipts"
elif [ "$n_receipts" -lt "$acked" ]; then
    problem "$((acked - n_receipts)) acknowledged receipts are missing from the database"
elif [ "$n_receipts" -gt "$issued" ]; then
    problem "the database has $((n_receipts - issued)) more receipts than were sent"
else
    echo "   every acknowledged receipt is stored; $((n_receipts - acked)) more were in flight when wrk stopped counting (at most $((connections + rate_connections)))" >&2
fi
[ "$n_customers" = "$customers" ] || problem "customers in the database: $n_customers, expected $customers"

# ---------------------------------------------------------------------------------------
# Summary
# ---------------------------------------------------------------------------------------
row() { # label result
    local r=$2
    printf '%-44s %9s %9s %9s %9s\n' "$1" "$(field rps "$r")" "$(field p50_ms "$r")" \
        "$(field p99_ms "$r")" "$(($(num http_errors "$r") + $(num sock_errors "$r")))"
}
echo
echo "Loyal checkout benchmark: $(nproc) cores, --sync $sync, $customers customers, wrk -t$threads -c$connections -d$duration"
printf '%-44s %9s %9s %9s %9s\n' endpoint req/s p50_ms p99_ms errors
row "GET /health" "${res[health]}"
row "POST /v1/receipts (confirm)" "${res[confirm]}"
row "POST /v1/receipts/calculate" "${res[calculate]}"
row "GET /v1/customers/{id}/balance" "${res[balance]}"
row "POST /v1/receipts at $rate/s offered (-c$rate_connections)" "${res[rate]}"
echo "  fixed rate: offered $(field offered_rps "$f")/s, sent $(field sent_rps "$f")/s ($(field behind "$f") late for want of a free connection), p99.9 $(field p999_ms "$f") ms, max $(field max_ms "$f") ms (from the scheduled send time);"
echo "  wrk's own service time p50 $(field service_p50_ms "$f") ms p99 $(field service_p99_ms "$f") ms"
echo "receipts in the database: $n_receipts (acknowledged $acked, sent $issued); loyal check exit $check_rc"
cps=$(field rps "$c")
p99=$(field p99_ms "$f")
echo "targets: confirm >= 25000/s durable: $cps/s $(awk -v v="$cps" 'BEGIN{print (v>=25000)?"MET":"NOT MET"}');" \
     "p99 < 5 ms at $rate/s: $p99 ms $(awk -v v="$p99" 'BEGIN{print (v<5)?"MET":"NOT MET"}')"
if [ ${#problems[@]} -gt 0 ]; then
    echo
    loud "THIS RUN HAD PROBLEMS; its figures are not valid:" "${problems[@]}"
    exit 1
fi
