#!/usr/bin/env bash
# Every RL preset raises the reward: each configs/rl_*_arith.yaml runs on the
# tiny fixture base (rl_base.sh) for 40 steps on a tiny task (a fixed set of
# 16 additions of 1-2 digits, every one drawn each step) with a fixed seed;
# the mean reward of the last 10 steps must beat that of the first 10 by a
# margin (measured rises: about 0.2). The countdown presets are checked for the same run
# files on a few steps (a base that can solve countdown takes minutes to
# train; they share every code path but the task and its reward).
# usage: rl_presets.sh THINKRL PYTHON WORKDIR [margin]
set -uo pipefail
bin=$1 py=$2 work=$3/rl_presets margin=${4:-0.05}
base=$3/rl_base/model
rm -rf "$work" && mkdir -p "$work"
. "$(dirname "$0")/testlib.sh"
src=$(cd "$(dirname "$0")/.." && pwd)
for cfg in "$src"/configs/rl_*_arith.yaml; do
  name=$(basename "$cfg" .yaml)
  "$bin" rl --config "$cfg" --out "$work/$name" model.path="$base" "data.task_options=digits=1-2" data.n_train=16 \
    train.steps=40 rollout.prompts=16 optim.lr=3e-4 optim.warmup=5 eval.every=0 ckpt.every=0 log.samples=0 threads=2 \
    >"$work/$name.log" 2>&1 || { bad "$name: $(tail -2 "$work/$name.log")"; continue; }
  if "$py" - "$work/$name/metrics.jsonl" "$margin" "$name" <<'PY'; then ok; else bad "$name: the reward did not rise"; fi
import json, sys
r = [x["reward/mean"] for x in map(json.loads, open(sys.argv[1])) if "event" not in x]
first, last = sum(r[:10]) / 10, sum(r[-10:]) / 10
print("%s: reward %.3f (first 10 steps) -> %.3f (last 10)" % (sys.argv[3], first, last))
sys.exit(0 if last > first + float(sys.argv[2]) else 1)
PY
done
for cfg in "$src"/configs/rl_*_countdown.yaml; do
  name=$(basename "$cfg" .yaml)
  "$bin" rl --config "$cfg" --out "$work/$name" model.path="$base" train.steps=2 rollout.prompts=4 rollout.n=4 \
    eval.every=0 threads=2 >"$work/$name.log" 2>&1 && [ -f "$work/$name/model/model.safetensors" ] \
    && grep -Eq '"reward/(equation|taco)"' "$work/$name/metrics.jsonl" && ok || bad "$name: $(tail -2 "$work/$name.log")"
done
finish rl_presets
