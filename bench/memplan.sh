#!/usr/bin/env bash
# The memory plan against what the process really held: SFT and RL runs of
# the nano, micro and mini presets (random weights, a few steps), each
# printing the plan's total and the peak resident set (getrusage). The plan
# counts buffers at their full size; the kernel counts pages touched, so
# plan >= peak is the expected direction and the ratio says how tight it is.
# usage: bench/memplan.sh [BUILD_DIR]
set -euo pipefail
build=${1:-build}
bin="$build/thinkrl"
work=$(mktemp -d /tmp/thinkrl-memplan.XXXXXX)
trap 'rm -rf "$work"' EXIT
export OMP_WAIT_POLICY=PASSIVE
mib() { sed -n "s/.*peak resident memory \([0-9.]*\) MiB (plan \([0-9.]*\) MiB).*/\1 \2/p" "$1"; }
row() { # name log
  read -r peak plan < <(mib "$2")
  awk -v n="$1" -v a="$peak" -v b="$plan" 'BEGIN { printf "%-34s %10.1f %10.1f %7.3f\n", n, b, a, a / b }'
}
printf "%-34s %10s %10s %7s\n" run plan_MiB peak_MiB peak/plan
for preset in nano micro mini; do
  "$bin" init --preset "$preset" --out "$work/$preset" --seed 1 >/dev/null
  for bt in "8 128" "16 256"; do
    set -- $bt
    "$bin" sft --out "$work/sft-$preset-$1" model.path="$work/$preset" data.task=arith data.n_train=2000 \
      data.n_eval=0 train.steps=2 train.batch_size="$1" train.seq_len="$2" eval.every=0 threads=2 \
      >"$work/sft.log" 2>&1 || { tail -3 "$work/sft.log"; exit 1; }
    row "sft $preset B=$1 T=$2" "$work/sft.log"
  done
  for algo in grpo gae; do
    "$bin" rl --out "$work/rl-$preset-$algo" model.path="$work/$preset" data.task=arith data.n_train=2000 \
      algo.adv="$algo" rollout.prompts=8 rollout.n=8 rollout.max_new_tokens=64 train.micro_batch=16 \
      train.steps=2 eval.every=0 threads=2 >"$work/rl.log" 2>&1 || { tail -3 "$work/rl.log"; exit 1; }
    row "rl $preset $algo 8x8, 64 new tokens" "$work/rl.log"
  done
done
