#!/usr/bin/env bash
# data / sft / eval end to end through the CLI: generators are deterministic
# and chunkable, malformed JSONL lines are reported with file:line and field,
# configs reject unknown keys with a suggestion, a stopped SFT run resumes to
# the same weights as a straight one, eval prints the documented JSON.
# usage: data_cli.sh THINKRL PYTHON WORKDIR
set -uo pipefail
bin=$1 py=$2 work=$3/data_cli
rm -rf "$work" && mkdir -p "$work"
here=$(cd "$(dirname "$0")" && pwd)
. "$(dirname "$0")/testlib.sh"

for c in data sft eval; do
  "$bin" "$c" --help >"$work/help" 2>&1 && grep -q -- "--" "$work/help" && ok || bad "$c --help"
done
"$bin" data tasks | grep -q "^arith:" && ok || bad "data tasks lists arith"

# generators: same seed -> same bytes; two ranges == one run
for t in arith countdown word; do
  "$bin" data gen $t --n 200 --seed 5 --out "$work/$t.a.jsonl" 2>/dev/null && ok || bad "gen $t"
  "$bin" data gen $t --n 200 --seed 5 --out "$work/$t.b.jsonl" 2>/dev/null
  cmp -s "$work/$t.a.jsonl" "$work/$t.b.jsonl" && ok || bad "$t not deterministic"
  { "$bin" data gen $t --n 120 --seed 5 --out - ; "$bin" data gen $t --n 80 --first 120 --seed 5 --out - ; } >"$work/$t.c.jsonl" 2>/dev/null
  cmp -s "$work/$t.a.jsonl" "$work/$t.c.jsonl" && ok || bad "$t ranges differ from one run"
  "$bin" data gen $t --n 200 --seed 6 --out "$work/$t.d.jsonl" 2>/dev/null
  cmp -s "$work/$t.a.jsonl" "$work/$t.d.jsonl" && bad "$t: seeds 5 and 6 give the same data" || ok
  "$bin" data check "$work/$t.a.jsonl" | grep -q "200 records" && ok || bad "check $t"
done
"$bin" data gen arith --n 2000 --seed 1 --out "$work/mix.jsonl" mix=direct:0,column:1,split:0 2>/dev/null
[ "$(grep -c '"pattern":"column"' "$work/mix.jsonl")" = 2000 ] && ok || bad "custom mix not applied"
expect_fail "digts" "$bin" data gen arith --n 5 --out "$work/x" digts=2
expect_fail "mix" "$bin" data gen arith --n 5 --out "$work/x" mix=direct:0,column:0,split:0

# malformed lines: file:line and field
printf '%s\n' '{"prompt":"1+1=","answer":"2"}' '' '{"prompt":"2+2=","answer":[4]}' '{"messages":[{"role":"user"}]}' 'not json' '{"prompt":"3+3=","answer":"6"}' >"$work/bad.jsonl"
expect_fail "bad.jsonl:3: field 'answer'" "$bin" data check "$work/bad.jsonl"
grep -q "bad.jsonl:4: field 'messages\[0\].content'" "$work/err" && ok || bad "line 4 not reported: $(cat "$work/err")"
grep -q "bad.jsonl:5:" "$work/err" && ok || bad "line 5 not reported"
"$bin" data check "$work/bad.jsonl" --skip-bad 2>/dev/null | grep -q "2 records.*3 bad lines" && ok || bad "check --skip-bad counts"
expect_fail "bad.jsonl:3" "$bin" eval --model "$work/none" --data "$work/bad.jsonl"

# sft: tiny model on arith from the task, overrides, unknown key, stop + resume
tiny="model.hidden_size=64 model.num_layers=2 model.num_heads=4 model.num_kv_heads=2 model.intermediate_size=128
      model.max_position=128 data.task=arith data.n_train=600 data.n_eval=50 train.seq_len=96 train.batch_size=8
      train.steps=24 optim.warmup=4 eval.every=8 ckpt.every=8 log.every=4 threads=1"
cat >"$work/sft.yaml" <<'YAML'
optim:
  lr: 3e-3
YAML
expect_fail "did you mean 'optim.lr'" "$bin" sft --config "$work/sft.yaml" --out "$work/r0" optim.lrr=1
printf 'optim:\n  lr: fast\n' >"$work/badcfg.yaml"
expect_fail "badcfg.yaml:2" "$bin" sft --config "$work/badcfg.yaml" --out "$work/r0"
"$bin" sft --config "$work/sft.yaml" --out "$work/r1" $tiny >"$work/sft1.log" 2>&1 && ok || bad "sft run: $(tail -3 "$work/sft1.log")"
grep -q "step 24/24" "$work/sft1.log" && ok || bad "progress line"
[ -f "$work/r1/model/model.safetensors" ] && [ -f "$work/r1/config.yaml" ] && ok || bad "run dir layout"
grep -q "lr: 0.003" "$work/r1/config.yaml" && ok || bad "effective config lacks the file's lr: $(grep lr "$work/r1/config.yaml")"
"$py" - "$work/r1/metrics.jsonl" <<'PY' && ok || bad "metrics.jsonl"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
assert rows[-1]["step"] == 24 and "eval_loss" in rows[-1] and rows[-1]["loss"] < rows[0]["loss"], rows
PY
"$bin" sft --config "$work/sft.yaml" --out "$work/r2" $tiny train.stop_after=12 >/dev/null 2>&1 && ok || bad "stopped run"
[ ! -d "$work/r2/model" ] && ok || bad "stopped run wrote a final model"
# a hand-edited state.json (it holds the other files' checksums, not its own) is refused, not cast blindly
for edit in "data.cursor=-5" "data.epoch=1.5" "step=1e300"; do
  rm -rf "$work/r3" && cp -r "$work/r2" "$work/r3"
  "$py" - "$work/r3/ckpt" "$edit" <<'PY'
import glob, json, os, sys
key, val = sys.argv[2].split("=")
for p in glob.glob(os.path.join(sys.argv[1], "step-*", "state.json")):
    d = json.load(open(p))
    o = d if key == "step" else d["state"]
    for k in key.split(".")[:-1]: o = o[k]
    o[key.split(".")[-1]] = float(val) if "." in val or "e" in val else int(val)
    json.dump(d, open(p, "w"))
PY
  expect_fail "${edit%%=*}" "$bin" sft --resume "$work/r3" train.stop_after=0
done
"$bin" sft --resume "$work/r2" train.stop_after=0 >"$work/sft2.log" 2>&1 && ok || bad "resume: $(tail -3 "$work/sft2.log")"
cmp -s "$work/r1/model/model.safetensors" "$work/r2/model/model.safetensors" && ok || bad "resumed weights differ from the straight run"
expect_fail "not a run directory" "$bin" sft --resume "$work/r0"
# absurd settings and an empty dataset fail before any work; the memory plan
for kv in train.batch_size=0 train.seq_len=-1 optim.lr=nan train.grad_accum=0 max_memory=lots; do
  expect_fail "${kv%%=*}" "$bin" sft --config "$work/sft.yaml" --out "$work/x" $tiny "$kv"
done
: >"$work/empty.jsonl"
expect_fail "empty.jsonl: no records" "$bin" sft --config "$work/sft.yaml" --out "$work/x" $tiny data.task= \
  data.train="$work/empty.jsonl"
expect_fail "train.epochs: 0 passes with train.steps 0" "$bin" sft --config "$work/sft.yaml" --out "$work/x" $tiny \
  train.steps=0 train.epochs=0
# records whose prompt fills train.seq_len are left out, and the log says how many
"$bin" sft --config "$work/sft.yaml" --out "$work/short" $tiny train.seq_len=8 train.steps=1 >"$work/short.log" 2>&1 \
  && grep -Eq "; [0-9]+ left out with no target token within train.seq_len 8 \([0-9]+ training, [0-9]+ held out\)" \
  "$work/short.log" && ok || bad "sft: records left out not reported: $(head -2 "$work/short.log")"
grep -q "^sft:  activations" "$work/sft1.log" && grep -q "^sft:  total" "$work/sft1.log" && ok \
  || bad "sft memory plan: $(grep '^sft: ' "$work/sft1.log")"
expect_fail "memory plan: the run needs" "$bin" sft --config "$work/sft.yaml" --out "$work/x" $tiny max_memory=1M
# the NaN guard: a NaN loss at step 10 skips that step's update (the
# checkpoints of steps 9 and 10 are equal), an event line says so; a NaN
# weight stops the run before a checkpoint takes it, unless
# guard.nonfinite=rollback restores step 9; guard.nonfinite=stop stops
"$bin" sft --config "$work/sft.yaml" --out "$work/g1" $tiny ckpt.every=1 ckpt.keep=0 debug.fault=nan@10 \
  >"$work/g1.log" 2>&1 && ok || bad "sft nan skipped: $(tail -3 "$work/g1.log")"
grep -q "step 10: NaN/Inf in the loss; its optimiser step is skipped" "$work/g1.log" && ok || bad "sft skip line"
cmp -s "$work/g1/ckpt/step-00000009/model.safetensors" "$work/g1/ckpt/step-00000010/model.safetensors" && ok \
  || bad "sft: the skipped step changed the weights"
cmp -s "$work/g1/ckpt/step-00000009/optim.safetensors" "$work/g1/ckpt/step-00000010/optim.safetensors" && ok \
  || bad "sft: the skipped step changed the moments"
"$py" - "$work/g1/metrics.jsonl" <<'PY' && ok || bad "sft skip metrics"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
ev = [r for r in rows if "event" in r]
assert ev == [{"step": 10, "event": "nonfinite", "what": "the loss", "action": "skip"}], ev
assert rows[-1]["step"] == 24 and rows[-1]["guard/skips"] == 1, rows[-1]
PY
expect_fail "after a finite update" "$bin" sft --config "$work/sft.yaml" --out "$work/g2" $tiny ckpt.every=4 \
  debug.fault=nan_weight@10
[ "$(ls "$work/g2/ckpt" | grep step- | tail -1)" = "step-00000008" ] && ok || bad "sft g2: $(ls "$work/g2/ckpt")"
"$bin" sft --config "$work/sft.yaml" --out "$work/g3" $tiny ckpt.every=1 ckpt.keep=0 debug.fault=nan_weight@10 \
  guard.nonfinite=rollback >"$work/g3.log" 2>&1 && ok || bad "sft nan weight rolled back: $(tail -3 "$work/g3.log")"
grep -q '"step":10,"event":"nonfinite","what":"the weights","action":"rollback"' "$work/g3/metrics.jsonl" && ok \
  || bad "sft rollback event: $(grep event "$work/g3/metrics.jsonl")"
cmp -s "$work/g3/ckpt/step-00000009/model.safetensors" "$work/g3/ckpt/step-00000010/model.safetensors" && ok \
  || bad "sft: the rolled-back step changed the weights"
expect_fail "guard.nonfinite=skip or rollback" "$bin" sft --config "$work/sft.yaml" --out "$work/g4" $tiny \
  debug.fault=nan@3 guard.nonfinite=stop
expect_fail "debug.fault" "$bin" sft --config "$work/sft.yaml" --out "$work/g4" $tiny debug.fault=nan@x

# eval: JSON summary with the documented fields
"$bin" data gen arith --n 20 --seed 99 --out "$work/test.jsonl" 2>/dev/null
"$bin" eval --model "$work/r1/model" --data "$work/test.jsonl" --n 4 --max-new-tokens 40 --json --samples "$work/samples.jsonl" >"$work/eval.json" 2>"$work/eval.err" && ok || bad "eval: $(cat "$work/eval.err")"
"$py" - "$work/eval.json" "$work/samples.jsonl" <<'PY' && ok || bad "eval json: $(cat "$work/eval.json")"
import json, sys
d = json.load(open(sys.argv[1]))
for k in ["acc", "pass@1", "pass@2", "pass@4", "maj@4", "format_rate", "len_mean", "patterns"]:
    assert k in d, k
assert d["prompts"] == 20 and d["samples"] == 4
assert set(d["patterns"]) >= {"direct", "column", "split", "other"}, d["patterns"]
assert abs(sum(p["freq"] for p in d["patterns"].values()) - 1) < 1e-6
s = [json.loads(l) for l in open(sys.argv[2])]
assert len(s) == 80 and all("response" in x and "pattern" in x for x in s)
assert abs(sum(x["correct"] for x in s) / 80 - d["acc"]) < 1e-6
PY
"$bin" eval --model "$work/r1/model" --data "$work/test.jsonl" --n 2 --max-new-tokens 20 2>/dev/null | grep -q "pass@1" && ok || bad "eval table"
expect_fail "--n" "$bin" eval --model "$work/r1/model" --data "$work/test.jsonl" --n 0

finish data_cli
