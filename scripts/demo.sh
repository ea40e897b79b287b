#!/usr/bin/env bash
# make demo: the most complete end-to-end path the project has today.
# Creates a nano model, inspects it, scores a sequence, and times training
# steps against PyTorch on the same weights. (The GRPO demo replaces this
# once the RL trainer lands.)
set -euo pipefail
build=${1:-build}
out=${DEMO_DIR:-runs/demo}
mkdir -p "$out"
echo "== thinkrl init: a nano Qwen2-style model with random weights =="
"$build/thinkrl" init --preset nano --out "$out/nano" --seed 1
echo "== thinkrl info =="
"$build/thinkrl" info --model "$out/nano"
echo "== thinkrl score: log p(ids[j+1] | ids[..j]) =="
"$build/thinkrl" score --model "$out/nano" --ids 1,2,3,4,5,6,7,8 --json
echo "== one training step (forward + backward + AdamW), thinkrl vs PyTorch =="
c=$("$build/bench/bench_train" --model "$out/nano" --B 16 --T 128 --steps 3 --warmup 1 --threads 2)
echo "thinkrl: $c"
if /usr/bin/python3 -c 'import torch' 2>/dev/null; then
  echo "pytorch: $(/usr/bin/python3 bench/bench_train.py --model "$out/nano" --B 16 --T 128 --steps 3 --warmup 1 --threads 2 --json | tail -n 1)"
fi
echo "demo: done, model in $out/nano"
