#!/usr/bin/env bash
# make demo: the most complete end-to-end path the project has today.
# 1. builds the embedded base model from scratch: a 0.9M-parameter
#    byte-level decoder trained by SFT on `arith` traces in three styles
#    (configs/base_arith.yaml; cached in $DEMO_DIR/base and rebuilt only when
#    the config changes);
# 2. evaluates it on held-out additions: accuracy, pass@k, maj@k and, per
#    reasoning pattern, its share and its accuracy.
# (The GRPO run on top of this base lands with the RL trainer.)
set -euo pipefail
build=${1:-build}
bin="$build/thinkrl"
out=${DEMO_DIR:-runs/demo}
threads=${DEMO_THREADS:-$(nproc)}
mkdir -p "$out"
cfg=configs/base_arith.yaml

"$bin" sft --config "$cfg" threads="$threads" --print-config >"$out/base.expected.yaml"
if [ -f "$out/base/model/model.safetensors" ] && cmp -s "$out/base.expected.yaml" "$out/base/config.yaml"; then
  echo "== base model: cached in $out/base/model (delete it to rebuild) =="
else
  echo "== base model: SFT from scratch on arith traces ($cfg) =="
  rm -rf "$out/base"
  start=$(date +%s)
  "$bin" sft --config "$cfg" --out "$out/base" threads="$threads"
  echo "base model built in $(( $(date +%s) - start ))s"
fi

echo "== held-out additions: 200 problems, 8 samples each at temperature 1 =="
"$bin" data gen arith --n 200 --seed 2 --out "$out/test.jsonl" digits=2-3 ops=add
"$bin" eval --model "$out/base/model" --data "$out/test.jsonl" --n 8 --max-new-tokens 64 \
  --temperature 1 --seed 1 --threads "$threads" --samples "$out/base_samples.jsonl" \
  --json-out "$out/base_eval.json"
echo "demo: base model in $out/base/model, its evaluation in $out/base_eval.json, responses in $out/base_samples.jsonl"
