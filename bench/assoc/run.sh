#!/bin/sh
# Builds and runs the co-purchase bench (bench_assoc.c) with -O2 into a temporary
# directory; arguments go to bench_assoc (FILE, --scale K, --repeat R).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
${CC:-cc} -std=c11 -O2 -Wall -Wextra -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -I"$src/src" \
    "$here/bench_assoc.c" "$src/src/analytics/assoc.c" "$src"/src/core/*.c -lm -o "$out/bench_assoc"
: "${LOYAL_SHARED_DATA:=$src/../shared/data}"
export LOYAL_SHARED_DATA
"$out/bench_assoc" "$@"
