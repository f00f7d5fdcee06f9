#!/bin/sh
# run.sh - the analytics benchmark (bench/analytics/README.md): `loyal analyze` on ten
# million simulated receipt lines, side by side with DuckDB computing RFM end to end on the
# same CSV, plus the BG/NBD fit time on the CDNOW sample (bench/clv/run.sh). Prints a final
# table of each figure against its target. Everything it creates lives in one temporary
# directory that is removed at the end (also on failure or Ctrl-C).
#
# usage: bench/analytics/run.sh
# Environment:
#   LOYAL_BIN   the loyal binary (default: build/loyal of this source tree)
#   LINES       receipt lines to simulate (default 10000000)
#   SEED        simulator seed (default 7)
#   RUNS        runs of the timed pass and of DuckDB, alternating; the best of each is
#               compared (default 3: the machine may be shared)
#   TMPDIR      where the temporary directory goes (the CSV is ~1.7 GB for 10M lines)
# Needs: /usr/bin/time (Debian package `time`), node and npm (Debian `nodejs`, `npm`), and
# network access for `npm install @duckdb/node-api` into the temporary directory.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
loyal=${LOYAL_BIN:-$src/build/loyal}
lines=${LINES:-10000000}
seed=${SEED:-7}
runs=${RUNS:-3}

for tool in /usr/bin/time node npm; do
    command -v "$tool" >/dev/null 2>&1 || { echo "run.sh: $tool is missing (apt-get install time nodejs npm)" >&2; exit 2; }
done
[ -x "$loyal" ] || { echo "run.sh: no loyal binary at $loyal (set LOYAL_BIN)" >&2; exit 2; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/loyal-bench-analytics.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM
csv=$tmp/sim.csv

# A JSON value from a file: jsonGet FILE EXPR (EXPR in JavaScript over `d`).
jsonGet() {
    node -e 'const d = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
             const v = eval(process.argv[2]); console.log(typeof v === "object" ? JSON.stringify(v) : v);' "$1" "$2"
}
# Peak resident memory in MB from a /usr/bin/time -v log.
peakMb() {
    awk -F': ' '/Maximum resident set size/ { printf "%.1f", $2 / 1024 }' "$1"
}
# The seconds of a stage from a --timings log: stageS LOG STAGE.
stageS() {
    awk -v s="$2" '$1 == "timing:" && $2 == s { print $3 }' "$1"
}

echo "== machine"
echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')  cpus: $(nproc)  load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "loyal: $loyal"

echo "== simulate $lines lines (seed $seed)"
# --bg-alpha 1500: a 150th of the default purchase rate (mean 0.0006 repeat deals a day),
# so ~10 lines per customer and ~1 million customers in 10 million lines.
"$loyal" simulate --lines "$lines" --bg-alpha 1500 --seed "$seed" -o "$csv"
ls -l "$csv" | awk '{ printf "csv: %.2f GB\n", $5 / 1e9 }'

echo "== loyal analyze: the pass alone (no CLV, no co-purchases), alternating with DuckDB, $runs runs"
mkdir "$tmp/duck"
cp "$here/duckdb_rfm.mjs" "$tmp/duck/"
(cd "$tmp/duck" && npm install --silent --no-audit --no-fund @duckdb/node-api >/dev/null 2>&1) ||
    { echo "run.sh: npm install @duckdb/node-api failed" >&2; exit 1; }
echo "duckdb: $(cd "$tmp/duck" && node -e 'console.log(require("@duckdb/node-api/package.json").version)' 2>/dev/null || echo '?')"
pass_s= duck_s= pass_all= duck_all= as_of=
i=0
while [ "$i" -lt "$runs" ]; do
    i=$((i + 1))
    /usr/bin/time -v "$loyal" analyze "$csv" --no-clv --no-copurchases --timings --quiet \
        --json "$tmp/pass.json" 2>"$tmp/pass.log" || { cat "$tmp/pass.log" >&2; exit 1; }
    t=$(stageS "$tmp/pass.log" pass)
    pass_all="$pass_all $t"
    if [ -z "$pass_s" ] || awk -v a="$t" -v b="$pass_s" 'BEGIN { exit !(a < b) }'; then
        pass_s=$t
        pass_mb=$(peakMb "$tmp/pass.log")
    fi
    [ -n "$as_of" ] || as_of=$(jsonGet "$tmp/pass.json" 'd.input.as_of')
    (cd "$tmp/duck" && /usr/bin/time -v node duckdb_rfm.mjs "$csv" "$as_of" >"$tmp/duck.out" 2>"$tmp/duck.log") ||
        { cat "$tmp/duck.log" >&2; exit 1; }
    t=$(sed -n 's/^RESULT.* wall_s=\([0-9.]*\).*/\1/p' "$tmp/duck.out")
    duck_all="$duck_all $t"
    if [ -z "$duck_s" ] || awk -v a="$t" -v b="$duck_s" 'BEGIN { exit !(a < b) }'; then
        duck_s=$t
        duck_mb=$(peakMb "$tmp/duck.log")
    fi
    echo "run $i: loyal pass $(stageS "$tmp/pass.log" pass) s, duckdb $t s (load $(cut -d' ' -f1 /proc/loadavg))"
done
grep '^timing:' "$tmp/pass.log"
grep '^RESULT' "$tmp/duck.out"
echo "customers: $(jsonGet "$tmp/pass.json" 'd.input.customers')  receipts: $(jsonGet "$tmp/pass.json" 'd.input.receipts')  lines: $(jsonGet "$tmp/pass.json" 'd.input.lines')  as-of: $as_of"
echo "best: loyal pass $pass_s s (peak $pass_mb MB), duckdb $duck_s s (peak $duck_mb MB)"
grep '^CELL' "$tmp/duck.out" | sort > "$tmp/duck_cells.txt"

echo "== loyal analyze: every stage (BG/NBD for CLV; Pareto/NBD is opt-in)"
/usr/bin/time -v "$loyal" analyze "$csv" --timings --quiet --json /dev/null \
    2>"$tmp/full.log" || { cat "$tmp/full.log" >&2; exit 1; }
grep '^timing:' "$tmp/full.log"
full_wall=$(awk -F': ' '/Elapsed \(wall clock\)/ { print $2 }' "$tmp/full.log")
full_mb=$(peakMb "$tmp/full.log")
echo "whole process: $full_wall wall, peak memory $full_mb MB"

echo "== loyal analyze --no-addons: RFM cells to compare with DuckDB"
"$loyal" analyze "$csv" --no-addons --no-clv --no-copurchases --quiet --as-of "$as_of" \
    --json "$tmp/cells.json"
jsonGet "$tmp/cells.json" 'd.rfm.cells.map(c => `CELL ${c.r} ${c.f} ${c.m} ${c.customers} ${c.revenue}`).join("\n")' |
    grep -v ' 0 0$' | sort > "$tmp/loyal_cells.txt"

if cmp -s "$tmp/loyal_cells.txt" "$tmp/duck_cells.txt"; then
    cells="agree ($(wc -l < "$tmp/duck_cells.txt") cells, customers and revenue per cell)"
else
    cells="DIFFER"
    echo "RFM cells, loyal (<) vs duckdb (>):"
    diff "$tmp/loyal_cells.txt" "$tmp/duck_cells.txt" || true
fi
echo "RFM cells: $cells"

echo "== BG/NBD fit on the CDNOW sample (bench/clv/run.sh)"
OUT="$tmp/bench_clv" "$src/bench/clv/run.sh" >"$tmp/clv.out" 2>&1 || { cat "$tmp/clv.out" >&2; exit 1; }
cat "$tmp/clv.out"
bg_ms=$(awk '/^BG\/NBD +fit:/ { print $4 }' "$tmp/clv.out")
bg_cpu=$(awk '/^BG\/NBD +fit:/ { print $7 }' "$tmp/clv.out")

verdict() { if [ "$1" = 1 ]; then echo met; else echo "NOT MET"; fi; }
faster=$(awk -v a="$pass_s" -v b="$duck_s" 'BEGIN { print (a < b) ? 1 : 0 }')
fast_fit=$(awk -v a="$bg_ms" 'BEGIN { print (a < 10) ? 1 : 0 }')
small=$(awk -v a="$full_mb" 'BEGIN { print (a < 2048) ? 1 : 0 }')
echo
echo "== results"
printf '%-44s %-14s %-22s %s\n' figure measured target verdict
printf '%-44s %-14s %-22s %s\n' "loyal analyze pass (read CSV + compute)" "$pass_s s" "< DuckDB $duck_s s" "$(verdict "$faster")"
printf '%-44s %-14s %-22s %s\n' "DuckDB RFM end to end (read CSV + SQL)" "$duck_s s" "-" "-"
printf '%-44s %s\n' "all runs: loyal pass / duckdb (s)" "$pass_all /$duck_all"
printf '%-44s %-14s %-22s %s\n' "BG/NBD fit, CDNOW sample (median wall)" "$bg_ms ms" "< 10 ms" "$(verdict "$fast_fit")"
printf '%-44s %-14s %-22s %s\n' "peak memory, whole analyze process" "$full_mb MB" "< 2048 MB" "$(verdict "$small")"
printf '%-44s %-14s\n' "peak memory, pass alone / DuckDB" "$pass_mb / $duck_mb MB"
printf '%-44s %-14s\n' "BG/NBD fit, CPU time (median)" "$bg_cpu ms"
printf '%-44s %s\n' "RFM cells Loyal (--no-addons) vs DuckDB" "$cells"
