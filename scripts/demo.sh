#!/usr/bin/env bash
# make demo: the most complete end-to-end path the project has today.
# Creates a nano model (random weights, byte-level tokenizer), inspects it,
# tokenizes and scores text, samples from it, and times training steps
# against PyTorch on the same weights. (The GRPO demo replaces this
# once the RL trainer lands.)
set -euo pipefail
build=${1:-build}
out=${DEMO_DIR:-runs/demo}
mkdir -p "$out"
echo "== thinkrl init: a nano Qwen2-style model with random weights =="
"$build/thinkrl" init --preset nano --out "$out/nano" --seed 1
echo "== thinkrl info =="
"$build/thinkrl" info --model "$out/nano"
echo "== thinkrl tokenize (the byte-level tokenizer init wrote) =="
"$build/thinkrl" tokenize --tokenizer "$out/nano" --text "12+34=<answer>46</answer>" --json
echo "== thinkrl score: log p(ids[j+1] | ids[..j]) =="
"$build/thinkrl" score --model "$out/nano" --text "12+34=<answer>46</answer>" --json
echo "== thinkrl generate: 2 samples, KV cache, per-token policy log-probs =="
"$build/thinkrl" generate --model "$out/nano" --prompt "12+34=" --n 2 --max-new-tokens 12 --seed 1 --json
echo "== one training step (forward + backward + AdamW), thinkrl vs PyTorch =="
c=$("$build/bench/bench_train" --model "$out/nano" --B 16 --T 128 --steps 3 --warmup 1 --threads 2)
echo "thinkrl: $c"
if /usr/bin/python3 -c 'import torch' 2>/dev/null; then
  echo "pytorch: $(/usr/bin/python3 bench/bench_train.py --model "$out/nano" --B 16 --T 128 --steps 3 --warmup 1 --threads 2 --json | tail -n 1)"
fi
echo "demo: done, model in $out/nano"
