#!/usr/bin/env bash
# Installs the Debian packages thinkrl needs, only those missing; idempotent.
# Build: OpenBLAS (OpenMP build), cJSON, libyaml, PCRE2, OpenMP.
# Reliability: clang + its runtimes (libFuzzer, `make fuzz`), valgrind (`make memcheck`).
# Tests and benchmarks only: python3-torch, python3-numpy, node/npm, chromium
# (headless, renders the run report in tests/report_chromium.sh).
set -euo pipefail
PKGS="build-essential cmake pkg-config libopenblas-openmp-dev libcjson-dev libyaml-dev libpcre2-dev clang libclang-rt-dev valgrind python3-torch python3-numpy chromium"
[ "${THINKRL_DEPS_EXTRA:-}" ] && PKGS="$PKGS $THINKRL_DEPS_EXTRA"
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if ! command -v node >/dev/null 2>&1; then missing="$missing nodejs npm"; fi
if [ -z "$missing" ]; then
  echo "deps: all present"
  exit 0
fi
echo "deps: installing:$missing"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq $missing
echo "deps: done"
