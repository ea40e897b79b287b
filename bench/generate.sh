#!/usr/bin/env bash
# Generation benchmark: thinkrl (bench_generate) against a PyTorch KV-cache
# decoder (bench_generate.py) on the same weights: P prompts x T prompt
# tokens x N new tokens, temperature-1 sampling with per-token log-probs,
# eos ignored, 2 threads each, one timed run after a short warm-up; then
# batch-1 decode. Prints tokens/s and ratios; asserts nothing.
# usage: bench/generate.sh [BUILD_DIR]
# env: BENCH_THREADS (2), GEN_PROMPTS (64), GEN_PROMPT_LEN (32), GEN_NEW (128),
#      GEN_PRESETS ("micro mini").
# Thread settings as in bench/run.sh: thinkrl runs with the OpenMP defaults,
# PyTorch with OMP_WAIT_POLICY=PASSIVE (bench_generate.py sets it unless the
# environment does; with spinning threads its OpenBLAS calls run ~3x slower).
# On a machine shared with other CPU-bound jobs, spinning OpenMP threads wait
# on descheduled siblings: numbers then swing by several times; run twice.
set -euo pipefail
build=${1:-build}
here=$(cd "$(dirname "$0")" && pwd)
py=${PYTHON_TORCH:-/usr/bin/python3}
threads=${BENCH_THREADS:-2}
P=${GEN_PROMPTS:-64} T=${GEN_PROMPT_LEN:-32} N=${GEN_NEW:-128}
presets=${GEN_PRESETS:-micro mini}
work=$(mktemp -d /tmp/thinkrl-genbench.XXXXXX)
trap 'rm -rf "$work"' EXIT

field() { sed -n "s/.*\"$2\": *\([-0-9.e]*\).*/\1/p" <<<"$1"; }

echo "== generation: $P prompts x $T tokens, $N new tokens each (temperature 1, eos ignored), $threads threads =="
. "$here/torchblas.sh"
read -r peak peak_what <<<"$(sgemm_peak "$build" "$threads")"
echo "sgemm peak (2048^3, $threads threads): $peak GFLOP/s (best of: $peak_what); GF/s below counts the matrix products of each new token"
echo "(ceiling: the ratio thinkrl would reach running those products at sgemm peak with nothing else to do)"
printf "%-6s %14s %12s %7s %8s %8s %16s %14s %7s %s\n" model thinkrl_tok/s torch_tok/s ratio GF/s ceiling thinkrl_b1_tok/s torch_b1_tok/s ratio torch_kernels
for preset in $presets; do
  "$build/thinkrl" init --preset "$preset" --out "$work/$preset" --seed 1 >/dev/null
  c=$("$build/bench/bench_generate" --model "$work/$preset" --prompts "$P" --prompt-len "$T" --new "$N" --threads "$threads")
  t=$(torch_env "$py" "$here/bench_generate.py" --model "$work/$preset" --prompts "$P" --prompt-len "$T" --new "$N" --threads "$threads" --json | tail -n 1)
  ct=$(field "$c" tokens_per_s); tt=$(field "$t" tokens_per_s)
  cb=$(field "$c" batch1_tokens_per_s); tb=$(field "$t" batch1_tokens_per_s)
  gf=$(field "$c" gemm_gflops); fpt=$(field "$c" flops_per_token)
  kt=$(sed -n 's/.*"blas_core": *"\([^"]*\)".*/\1/p' <<<"$t")
  awk -v p="$preset" -v ct="$ct" -v tt="$tt" -v cb="$cb" -v tb="$tb" -v gf="$gf" -v fpt="$fpt" -v pk="$peak" -v kt="$kt" 'BEGIN {
    printf "%-6s %14.0f %12.0f %6.2fx %8.1f %7.1fx %16.0f %14.0f %6.2fx %s\n", p, ct, tt, ct/tt, gf, pk*1e9/(fpt*tt), cb, tb, cb/tb, kt }'
done
echo "targets: >= 10x PyTorch on micro, >= 5x on mini (batched new tokens/s)"
