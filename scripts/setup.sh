#!/usr/bin/env bash
# Installs the Debian packages Loyal builds, tests and benchmarks with (chromium: the tests
# render the HTML report headless).
# Safe to run again: packages already present are skipped without touching the network.
set -euo pipefail
pkgs=(build-essential cmake pkg-config tzdata
      libsqlite3-dev libmicrohttpd-dev libjansson-dev libsodium-dev
      libcmocka-dev libcurl4-openssl-dev sqlite3 wrk chromium)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
echo "setup: installing ${missing[*]}" >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
