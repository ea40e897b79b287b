#!/usr/bin/env bash
# Coverage-guided fuzzing of every parser (libFuzzer, clang, ASan + UBSan):
#   scripts/fuzz.sh [SECONDS [TARGET...]]      (make fuzz FUZZ_SECONDS=N)
# Builds build-fuzz/ from fuzz/CMakeLists.txt (configured once, then
# incremental), then for each target (all of them by default):
#   1. replays fuzz/corpus/<t> and fuzz/regress/<t> once (-runs=0): every
#      seed and every input that once crashed must pass;
#   2. fuzzes for SECONDS seconds (0: replay only) on a scratch copy of those
#      inputs in build-fuzz/work/<t>/, so the checked-in corpus never grows.
# Prints a table (seeds, executions, coverage and features gained, result)
# and the total executions. A crash, leak, timeout (-timeout=10) or memory
# blow-up (-rss_limit_mb=2048) is copied to build-fuzz/crashes/<t>/, its
# path printed, and the exit status is 1. Keep what it found: fix the bug,
# then add the input to fuzz/regress/<t>/ under a descriptive name.
set -euo pipefail

SECS=${1:-60}
shift || true
ROOT=$(cd "$(dirname "$0")/.." && pwd)
B=$ROOT/build-fuzz
export OMP_WAIT_POLICY=PASSIVE
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
case "$SECS" in '' | *[!0-9]*) echo "fuzz: SECONDS must be a whole number, got '$SECS'" >&2; exit 2 ;; esac

CC_BIN=${FUZZ_CC:-clang}
if ! command -v "$CC_BIN" >/dev/null 2>&1; then
  echo "fuzz: $CC_BIN not found (make deps installs clang and libclang-rt-dev)" >&2
  exit 2
fi
if [ ! -f "$B/CMakeCache.txt" ]; then
  CC=$CC_BIN cmake -S "$ROOT/fuzz" -B "$B" >"$B.configure.log" 2>&1 || { cat "$B.configure.log" >&2; exit 2; }
  mv "$B.configure.log" "$B/configure.log"
fi
echo "fuzz: building $B"
cmake --build "$B" -j "$(nproc)" >"$B/build.log" 2>&1 || { tail -50 "$B/build.log" >&2; echo "fuzz: build failed" >&2; exit 2; }

# Longest input per target: what its format needs, not more (the fuzzer
# slows down with length; the tokenizer and chat-template seeds are real files).
max_len() {
  case "$1" in
    tokenizer | tokenizer_config) echo 65536 ;;
    jinja) echo 16384 ;;
    conf | jsonl) echo 8192 ;;
    reward_spec) echo 512 ;;
    *) echo 4096 ;;
  esac
}

if [ $# -gt 0 ]; then TARGETS="$*"; else TARGETS=$(cat "$B/targets.txt"); fi
rows=()
total=0
fail=0
for t in $TARGETS; do
  bin=$B/fuzz_$t
  if [ ! -x "$bin" ]; then echo "fuzz: no target '$t' (have: $(cat "$B/targets.txt"))" >&2; exit 2; fi
  corpus=$ROOT/fuzz/corpus/$t
  regress=$ROOT/fuzz/regress/$t
  work=$B/work/$t
  crashes=$B/crashes/$t
  rm -rf "$work"
  mkdir -p "$work/corpus" "$crashes"
  dirs=("$corpus")
  [ -d "$regress" ] && dirs+=("$regress")
  seeds=$(find "$corpus" -type f | wc -l)
  nreg=0
  [ -d "$regress" ] && nreg=$(find "$regress" -type f | wc -l)
  dict=()
  [ -f "$ROOT/fuzz/$t.dict" ] && dict=(-dict="$ROOT/fuzz/$t.dict")
  common=(-timeout=10 -rss_limit_mb=2048 -artifact_prefix="$crashes/" "${dict[@]}")

  # 1. replay (no -max_len: seeds longer than the fuzzing limit run whole)
  if ! (cd "$work" && "$bin" "${common[@]}" -runs=0 "${dirs[@]}") >"$work/replay.log" 2>&1; then
    tail -40 "$work/replay.log"
    art=$(grep -o "$crashes/[^ ]*" "$work/replay.log" | tail -1 || true)
    echo "fuzz: $t: a checked-in input fails (log: $work/replay.log${art:+, input: $art})"
    rows+=("$t|$seeds+$nreg|-|-|-|REPLAY FAILED")
    fail=1
    continue
  fi
  if [ "$SECS" -eq 0 ]; then
    rows+=("$t|$seeds+$nreg|$((seeds + nreg))|-|-|replayed")
    total=$((total + seeds + nreg))
    continue
  fi

  # 2. fuzz a scratch copy
  cp "$corpus"/* "$work/corpus/"
  [ "$nreg" -gt 0 ] && cp "$regress"/* "$work/corpus/"
  set +e
  (cd "$work" && nice "$bin" "${common[@]}" -max_len="$(max_len "$t")" -max_total_time="$SECS" \
    -print_final_stats=1 "$work/corpus") >"$work/fuzz.log" 2>&1
  rc=$?
  set -e
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/fuzz.log" | tail -1)
  [ -z "$execs" ] && execs=$(grep -o '^#[0-9]*' "$work/fuzz.log" | tail -1 | tr -d '#')
  execs=${execs:-0}
  total=$((total + execs))
  c0=$(sed -n 's/.*INITED cov: \([0-9]*\) ft: \([0-9]*\).*/\1 \2/p' "$work/fuzz.log" | head -1)
  c1=$(sed -n 's/^#[0-9]*.* cov: \([0-9]*\) ft: \([0-9]*\).*/\1 \2/p' "$work/fuzz.log" | tail -1)
  read -r cov0 ft0 <<<"${c0:-0 0}"
  read -r cov1 ft1 <<<"${c1:-0 0}"
  if [ $rc -eq 0 ]; then
    result=ok
  else
    art=$(grep -o "$crashes/[^ ]*" "$work/fuzz.log" | tail -1 || true)
    kind=$(grep -m1 -o -E 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer): [a-z-]*|runtime error|check failed|assertion failed' "$work/fuzz.log" || echo "exit $rc")
    tail -60 "$work/fuzz.log"
    echo "fuzz: $t: $kind; input: ${art:-(none written)}; log: $work/fuzz.log"
    result="FAILED: $kind"
    fail=1
  fi
  rows+=("$t|$seeds+$nreg|$execs|$cov1 (+$((cov1 - cov0)))|$ft1 (+$((ft1 - ft0)))|$result")
done

echo
printf '%-18s %-8s %-11s %-14s %-15s %s\n' target seeds executions coverage features result
for r in "${rows[@]}"; do
  IFS='|' read -r a b c d e f <<<"$r"
  printf '%-18s %-8s %-11s %-14s %-15s %s\n' "$a" "$b" "$c" "$d" "$e" "$f"
done
echo "fuzz: total executions: $total (${SECS}s per target; seeds = corpus+regress)"
if [ $fail -ne 0 ]; then
  echo "fuzz: FAILED (inputs kept under $B/crashes/)"
  exit 1
fi
