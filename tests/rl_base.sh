#!/usr/bin/env bash
# Fixture of the RL tests: a tiny base model (d 64, 2 layers, byte-level)
# trained by SFT on 1-2 digit additions for a few seconds, so that it is
# right about half of the time and RL has something to improve.
# usage: rl_base.sh THINKRL WORKDIR [FROM]  -> WORKDIR/rl_base/model
# FROM: another build's tests directory; its fixture model is copied when it
# has one (the sanitizer build reuses the release build's).
set -euo pipefail
bin=$1 out=$2/rl_base from=${3:-}
rm -rf "$out"
if [ -n "$from" ] && [ -f "$from/rl_base/model/model.safetensors" ]; then
  mkdir -p "$out" && cp -r "$from/rl_base/model" "$out/model"
  "$bin" info --model "$out/model" >/dev/null
  echo "rl_base: reused $from/rl_base/model"
  exit 0
fi
"$bin" sft --out "$out" model.preset=nano model.hidden_size=64 model.num_layers=2 model.num_heads=4 \
  model.num_kv_heads=2 model.intermediate_size=192 data.task=arith "data.task_options=digits=1-2" \
  data.n_train=45000 data.n_eval=100 train.seq_len=128 train.batch_size=16 optim.lr=3e-3 optim.warmup=20 \
  eval.every=0 ckpt.every=0 log.every=1000 threads=2 2>&1 | tail -1
test -f "$out/model/model.safetensors"
