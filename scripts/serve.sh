#!/usr/bin/env bash
# The first command of the README: install, build, create ./loyal.db and ./program.json on
# first use (printing the API keys once), then serve the API on 127.0.0.1:8080.
# Arguments go to `loyal serve` (see `build/loyal serve --help`).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
LOYAL_BUILD_TARGET=loyal "$root/scripts/build.sh"
loyal="${LOYAL_BUILD_DIR:-$root/build}/loyal"
if [ ! -e "${LOYAL_DB:-loyal.db}" ]; then
  "$loyal" init
fi
exec "$loyal" serve "$@"
