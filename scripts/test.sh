#!/usr/bin/env bash
# The second command of the README: install, build with warnings as errors, run every test.
# LOYAL_SANITIZE=1 builds and runs the suite under AddressSanitizer + UBSan instead (build-asan/).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
if [ "${LOYAL_SANITIZE:-0}" = 1 ]; then
  export LOYAL_BUILD_DIR=${LOYAL_BUILD_DIR:-$root/build-asan}
  "$root/scripts/build.sh" -DLOYAL_WERROR=ON -DLOYAL_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
else
  export LOYAL_BUILD_DIR=${LOYAL_BUILD_DIR:-$root/build}
  "$root/scripts/build.sh" -DLOYAL_WERROR=ON
fi
cd "$LOYAL_BUILD_DIR"
ctest --output-on-failure -j"$(nproc)"
