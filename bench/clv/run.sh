#!/bin/sh
# run.sh - builds bench_clv straight from the sources (clv.c and the core's error helpers, at
# -O2, the optimisation of the default RelWithDebInfo build) and runs it on the CDNOW summary.
#
# usage: bench/clv/run.sh [summary.csv] [runs]
#   summary.csv  defaults to $LOYAL_SHARED_DATA (or ../shared/data next to the source tree)
#                /cdnow_customers_summary_with_transactions.csv
#   runs         fits per model, the median is reported (default 15)
# Environment: CC (default cc), CFLAGS (default -O2), OUT (binary, default a temp file).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
: "${CC:=cc}"
: "${CFLAGS:=-O2}"
: "${LOYAL_SHARED_DATA:=$src/../shared/data}"
export LOYAL_SHARED_DATA
out=${OUT:-$(mktemp /tmp/bench_clv.XXXXXX)}
$CC -std=c11 $CFLAGS -Wall -Wextra -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -I"$src/src" \
    -o "$out" "$here/bench_clv.c" "$src/src/analytics/clv.c" "$src/src/core/error.c" -lm
data=${1:-$LOYAL_SHARED_DATA/cdnow_customers_summary_with_transactions.csv}
runs=${2:-15}
status=0
"$out" "$data" "$runs" || status=$?
[ -n "${OUT:-}" ] || rm -f "$out"
exit $status
