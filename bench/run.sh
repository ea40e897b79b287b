#!/usr/bin/env bash
# make bench: every benchmark, thinkrl against its reference on the same
# weights and the same work, in one run. Prints ratios; asserts nothing.
# usage: bench/run.sh [BUILD_DIR]
set -euo pipefail
build=${1:-build}
here=$(cd "$(dirname "$0")" && pwd)
py=${PYTHON_TORCH:-/usr/bin/python3}
threads=${BENCH_THREADS:-2}
steps=${BENCH_STEPS:-5}
work=$(mktemp -d /tmp/thinkrl-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT

field() { sed -n "s/.*\"$2\": *\([-0-9.e]*\).*/\1/p" <<<"$1"; }

. "$here/torchblas.sh"
echo "== training step: forward + backward + AdamW, B 16, T 128, $threads threads =="
read -r peak peak_what <<<"$(sgemm_peak "$build" "$threads")"
echo "sgemm peak (2048^3, $threads threads): $peak GFLOP/s (best of: $peak_what)"
echo "torch runs twice: OpenBLAS detecting the CPU (torch_s) and as the environment sets it (torch_env_s); ratio is against the faster"
printf "%-6s %12s %12s %12s %7s %9s %8s %10s %10s %s\n" model thinkrl_tok/s torch_tok/s torch_env_tok/s ratio GFLOP/s %peak rss_MB torch_MB "torch kernels (first loss: detect / env)"
for preset in nano micro mini; do
  "$build/thinkrl" init --preset "$preset" --out "$work/$preset" --seed 1 >/dev/null
  c=$("$build/bench/bench_train" --model "$work/$preset" --B 16 --T 128 --steps "$steps" --warmup 1 --threads "$threads")
  targs=(--model "$work/$preset" --B 16 --T 128 --steps "$steps" --warmup 1 --threads "$threads" --json)
  t=$(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "$py" "$here/bench_train.py" "${targs[@]}" | tail -n 1)
  te=$("$py" "$here/bench_train.py" "${targs[@]}" | tail -n 1)
  ct=$(field "$c" tokens_per_s); tt=$(field "$t" tokens_per_s); tet=$(field "$te" tokens_per_s)
  gf=$(field "$c" gflops); cr=$(field "$c" peak_rss_mb); tr=$(field "$t" peak_rss_mb)
  kd=$(sed -n 's/.*"blas_core": *"\([^"]*\)".*/\1/p' <<<"$t"); ke=$(sed -n 's/.*"blas_core": *"\([^"]*\)".*/\1/p' <<<"$te")
  ld=$(field "$t" loss_first); le=$(field "$te" loss_first)
  awk -v p="$preset" -v ct="$ct" -v tt="$tt" -v tet="$tet" -v gf="$gf" -v pk="$peak" -v cr="$cr" -v tr="$tr" \
      -v kd="$kd" -v ke="$ke" -v ld="$ld" -v le="$le" 'BEGIN {
    best = tt > tet ? tt : tet
    d = ld - le; if (d < 0) d = -d
    printf "%-6s %12.0f %12.0f %15.0f %6.2fx %9.1f %7.0f%% %10.0f %10.0f %s / %s (%s / %s%s)\n", p, ct, tt, tet, ct/best,
      gf, 100*gf/pk, cr, tr, kd, ke, ld, le, (d > 1e-4 ? ", DISAGREE" : "") }'
done
echo "targets: nano >= 3x, micro >= 2x, mini >= 1.5x PyTorch; mini >= 50% of sgemm peak; RSS <= PyTorch's"

for extra in "$here"/tokenizer.sh "$here"/generate.sh; do
  [ -f "$extra" ] && { echo; bash "$extra" "$build"; }
done
[ -f "$here/grpo_step.sh" ] && { echo; bash "$here/grpo_step.sh" "$build"; }
echo; echo "== memory plan against peak resident memory =="; bash "$here/memplan.sh" "$build"
exit 0
