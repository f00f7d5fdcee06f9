#!/usr/bin/env bash
# Builds Loyal into build/ (or $LOYAL_BUILD_DIR) after installing what it needs.
# Extra arguments go to cmake's configure step, e.g. -DLOYAL_SANITIZE=ON; LOYAL_BUILD_TARGET=loyal
# builds only that target.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/setup.sh"
build=${LOYAL_BUILD_DIR:-$root/build}
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
cmake --build "$build" -j"$(nproc)" ${LOYAL_BUILD_TARGET:+--target "$LOYAL_BUILD_TARGET"}
