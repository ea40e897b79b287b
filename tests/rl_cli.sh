#!/usr/bin/env bash
# thinkrl rl end to end on the tiny fixture base (rl_base.sh): config errors,
# the run directory's files and metric names, exact resume (6 steps straight
# == 3 steps + --resume + 3 steps: same weights, same metrics except
# timings) for GRPO, DAPO's dynamic sampler, PPO's critics, ReMax and the
# TACO mechanics (ads, rrs queue, a rollback), fault injection (NaN and
# spikes rolled back exactly, or a clear stop), and a corrupted checkpoint
# refused.
# usage: rl_cli.sh THINKRL PYTHON WORKDIR
set -uo pipefail
bin=$1 py=$2 work=$3/rl_cli
base=$3/rl_base/model
rm -rf "$work" && mkdir -p "$work"
. "$(dirname "$0")/testlib.sh"
src=$(cd "$(dirname "$0")/.." && pwd)
common=(model.path="$base" "data.task_options=digits=1" rollout.prompts=4 rollout.n=4 rollout.max_new_tokens=32
        eval.every=0 log.samples=2 threads=2)

"$bin" rl --help >"$work/help" 2>&1 && grep -q "algo.adv" "$work/help" && ok || bad "rl --help lists the keys"
expect_fail "did you mean 'optim.lr'" "$bin" rl --config "$src/configs/rl_grpo_arith.yaml" --out "$work/x" optim.lrr=1
expect_fail "algo.adv" "$bin" rl --config "$src/configs/rl_grpo_arith.yaml" --out "$work/x" algo.adv=grpoo
expect_fail "kl.placement" "$bin" rl --config "$src/configs/rl_grpo_arith.yaml" --out "$work/x" "${common[@]}" kl.placement=reward
expect_fail "model.path" "$bin" rl --out "$work/x" data.task=arith
expect_fail "rollout.n" "$bin" rl --config "$src/configs/rl_grpo_arith.yaml" --out "$work/x" "${common[@]}" rollout.n=1
printf '%s\n' '{"prompt":"1+1=","answer":"2"}' '{"prompt":"2+2="}' >"$work/noans.jsonl"
expect_fail "has no answer" "$bin" rl --out "$work/x" model.path="$base" data.train="$work/noans.jsonl"

# absurd settings fail before any work, naming the key
for kv in rollout.n=0 rollout.prompts=-3 optim.lr=nan optim.lr=inf train.micro_batch=0 rollout.max_new_tokens=0 \
          max_memory=lots; do
  expect_fail "${kv%%=*}" "$bin" rl --config "$src/configs/rl_grpo_arith.yaml" --out "$work/x" "${common[@]}" "$kv"
done
# settings that would run and learn nothing, or fail only later, refused up front
while IFS='|' read -r msg kvs; do
  read -r -a kva <<<"$kvs"
  expect_fail "$msg" "$bin" rl --config "$src/configs/rl_grpo_arith.yaml" --out "$work/x" "${common[@]}" "${kva[@]}"
done <<'EOF'
critic.warmup: there is no critic to warm up with algo.adv=grpo|critic.warmup=2
rollout.n: dr_grpo needs at least 2 responses per prompt|algo.adv=dr_grpo rollout.n=1
rollout.n: reinforce_pp_baseline needs at least 2|algo.adv=reinforce_pp_baseline rollout.n=1
reinforce_pp whitens the advantages over the batch|algo.adv=reinforce_pp kl.beta=0 rollout.n=1 rollout.prompts=1
optim.beta1: 1 is out of range 0..<1|optim.beta1=1
optim.eps: 0 is out of range 0<..|optim.eps=0
rollout.top_p: 0 is out of range 0<..1|rollout.top_p=0
loss.eps_low: 1 is out of range 0..<1|loss.eps_low=1
rrs.kl_max: kl.beta = 0 computes no KL|rrs.kl_max=0.1 kl.beta=0
reward.spec: every weight is 0|reward.spec=accuracy:0,format:0
EOF
: >"$work/empty.jsonl"
expect_fail "empty.jsonl: no records" "$bin" rl --out "$work/x" model.path="$base" data.train="$work/empty.jsonl"
expect_fail "exceed the model's context of 4096 tokens (first: record arith-0" "$bin" rl \
  --config "$src/configs/rl_grpo_arith.yaml" --out "$work/x" "${common[@]}" rollout.max_new_tokens=4094
printf '%s\n' '{"id":"long","prompt":"'"$(printf '1+%.0s' $(seq 3000))"'1=","answer":"2"}' >"$work/long.jsonl"
expect_fail "1 prompt with rollout.max_new_tokens 32 after it exceeds the model's context of 4096 tokens (first: record long" \
  "$bin" rl --config "$src/configs/rl_grpo_arith.yaml" --out "$work/x" "${common[@]}" data.train="$work/long.jsonl"

# the memory plan: printed before the run; a limit below it refuses the
# run, naming the largest term and a micro-batch that fits
"$bin" rl --config "$src/configs/rl_grpo_arith.yaml" --out "$work/mp" "${common[@]}" train.steps=1 >"$work/mp.log" 2>&1 \
  && ok || bad "plan run: $(tail -3 "$work/mp.log")"
for t in "policy weights" "policy gradients" "policy AdamW moments" "reference model" "policy activations" \
         "reference activations" "KV cache and decoding" "packed weights" "total "; do
  grep -q "^rl:  $t" "$work/mp.log" && ok || bad "the plan lacks '$t': $(grep '^rl:  ' "$work/mp.log")"
done
# plan_limit LOG EXPR: EXPR over the plan's terms t["name"] (bytes) of LOG
plan_limit() {
  "$py" - "$1" "$2" <<'PY'
import re, sys
u = {"B": 1, "KiB": 2**10, "MiB": 2**20, "GiB": 2**30}
t = {}
for l in open(sys.argv[1]):
    m = re.match(r"rl:  (.+?)\s+([0-9.]+) (B|KiB|MiB|GiB)", l)
    if m: t[m.group(1).strip()] = float(m.group(2)) * u[m.group(3)]
print(int(eval(sys.argv[2])))
PY
}
# halving the micro-batch (16 rows) saves about half of both activation terms
lim=$(plan_limit "$work/mp.log" 't["total"] - 0.2 * (t["policy activations"] + t["reference activations"])')
expect_fail "train.micro_batch=8 would fit" "$bin" rl --config "$src/configs/rl_grpo_arith.yaml" --out "$work/x" \
  "${common[@]}" max_memory="$lim"
expect_fail "the largest term is the" "$bin" rl --config "$src/configs/rl_grpo_arith.yaml" --out "$work/x" \
  "${common[@]}" max_memory=1M
"$bin" rl --config "$src/configs/rl_grpo_arith.yaml" --out "$work/x" "${common[@]}" train.steps=1 max_memory=off \
  >/dev/null 2>&1 && ok || bad "max_memory=off"
# rollout.pack=false: no packed copy of the weights in the plan, and the
# setting offered when nothing else is left to shrink
small=(train.micro_batch=1 rollout.slots=1)
"$bin" rl --config "$src/configs/rl_grpo_arith.yaml" --out "$work/np" "${common[@]}" "${small[@]}" train.steps=1 \
  rollout.pack=false >"$work/np.log" 2>&1 && ok || bad "rollout.pack=false run: $(tail -3 "$work/np.log")"
grep -q "^rl:  packed weights" "$work/np.log" && bad "rollout.pack=false still plans packed weights" || ok
# (on the micro preset: its 27 MB pack dwarfs the run-to-run noise of the
# measured "runtime" term, which moves by a MiB under ASan; the plan of a
# refused run gives the terms)
"$bin" init --preset micro --out "$work/micro" --seed 1 >/dev/null
big=(model.path="$work/micro" rollout.prompts=2 rollout.n=2 rollout.max_new_tokens=8 "${small[@]}")
"$bin" rl --config "$src/configs/rl_grpo_arith.yaml" --out "$work/x" "${common[@]}" "${big[@]}" max_memory=1M \
  >"$work/pk.log" 2>&1 && bad "max_memory=1M accepted" || ok
lim=$(plan_limit "$work/pk.log" 't["total"] - 0.5 * t["packed weights"]')
expect_fail "rollout.pack=false would fit" "$bin" rl --config "$src/configs/rl_grpo_arith.yaml" --out "$work/x" \
  "${common[@]}" "${big[@]}" max_memory="$lim"

# a run: files, metric names of ALGORITHMS 8, samples
"$bin" rl --config "$src/configs/rl_grpo_arith.yaml" --out "$work/g" "${common[@]}" train.steps=2 eval.every=2 \
  eval.prompts=8 >"$work/g.log" 2>&1 && ok || bad "grpo run: $(tail -3 "$work/g.log")"
for f in config.yaml metrics.jsonl samples.jsonl model/model.safetensors model/tokenizer.json ckpt/latest; do
  [ -e "$work/g/$f" ] && ok || bad "run directory lacks $f"
done
grep -q "step 2/2 | reward" "$work/g.log" && ok || bad "progress line: $(cat "$work/g.log")"
"$py" - "$work/g" <<'PY' && ok || bad "metrics / samples content"
import json, sys
d = sys.argv[1]
m = [json.loads(l) for l in open(d + "/metrics.jsonl")]
assert [x["step"] for x in m] == [0, 1, 2], m
assert list(m[0]) == ["step", "eval/acc", "eval/format_rate", "eval/pass@2", "eval/pass@4"], m[0]
m = m[1:]
need = ["reward/mean", "reward/accuracy", "reward/format", "acc", "kl", "entropy", "clip_frac", "ratio/mean",
        "ratio/max", "adv/mean", "adv/std", "grad_norm", "lr", "len/mean", "len/max", "len/trunc_frac",
        "pattern/direct/freq", "pattern/direct/acc", "pattern/column/freq", "perf/rollout_tok_s",
        "perf/train_tok_s", "perf/step_s", "perf/gen_s", "perf/ref_s", "perf/update_s"]
for k in need:
    assert k in m[0], k
assert "eval/acc" in m[1] and "eval/acc" not in m[0]
assert abs(sum(v for k, v in m[0].items() if k.startswith("pattern/") and k.endswith("/freq")) - 1) < 1e-9
s = [json.loads(l) for l in open(d + "/samples.jsonl")]
assert len(s) == 4 and all(k in s[0] for k in ("prompt", "response", "reward", "pattern", "correct"))
PY

# exact resume: 6 straight == 3 + resume + 3
same_run() {  # NAME CONFIG extra...
  local name=$1 cfg=$2; shift 2
  "$bin" rl --config "$src/configs/$cfg" --out "$work/$name.a" "${common[@]}" train.steps=6 ckpt.every=2 "$@" >/dev/null 2>&1 \
    || { bad "$name straight run"; return; }
  "$bin" rl --config "$src/configs/$cfg" --out "$work/$name.b" "${common[@]}" train.steps=6 ckpt.every=2 \
    train.stop_after=3 "$@" >"$work/$name.b.log" 2>&1 || { bad "$name first half"; return; }
  grep -q "resume" "$work/$name.b.log" && ok || bad "$name: no hint to resume"
  [ ! -e "$work/$name.b/model" ] && ok || bad "$name: a stopped run wrote model/"
  "$bin" rl --resume "$work/$name.b" >"$work/$name.r.log" 2>&1 || { bad "$name resume: $(tail -2 "$work/$name.r.log")"; return; }
  same_result "$name" "$work/$name.a" "$work/$name.b"
}
same_run grpo rl_grpo_arith.yaml
same_run dapo rl_dapo_arith.yaml
same_run ppo rl_ppo_arith.yaml critic.warmup=1
same_run ppo_shared rl_ppo_arith.yaml critic.mode=shared
same_run remax rl_remax_arith.yaml
# TACO: the ads estimates, the rrs queue (due prompts come back in the second
# half), the spike history and a rollback in the resumed half all carry over
same_run taco rl_grpo_arith.yaml data.n_train=12 sampler.kind=ads ads.retest=2 rrs.groups=true rrs.delay=1 \
  rrs.rollback=true rrs.watch=loss:0.05,grad_norm rrs.min_history=2 debug.fault=spike@5 "reward.spec=taco"
"$py" - "$work/taco.a/metrics.jsonl" <<'PY' && ok || bad "taco metrics"
import json, sys
m = [json.loads(l) for l in open(sys.argv[1])]
ev = [x for x in m if "event" in x]
st = [x for x in m if "event" not in x]
assert len(ev) == 1 and ev[0]["step"] == 5 and ev[0]["event"] == "rollback" and "loss" in ev[0]["why"], ev
assert [x["step"] for x in st] == [1, 2, 3, 4, 5, 6]
assert st[3]["rrs/rollbacks"] == 0 and st[4]["rrs/rollbacks"] == 1, [x["rrs/rollbacks"] for x in st]
assert st[-1]["rrs/reintroduced"] > 0 and st[-1]["rrs/deferred"] >= st[-1]["rrs/reintroduced"], st[-1]
for x in st:
    assert 0 <= x["taco/consistency_rate"] <= 1 and len(x["ads/hist"]) == 10
    assert sum(x["ads/hist"]) == x["ads/visited"] and x["ads/visited"] <= 12
    assert sum(x[k] for k in x if k.startswith("rrs/why/")) >= 0
PY

# each reason for deferring a group fires when its threshold says so
"$bin" rl --config "$src/configs/rl_grpo_arith.yaml" --out "$work/why" "${common[@]}" train.steps=3 rrs.groups=true \
  rrs.loop_ngram=1 rrs.loop_reps=2 rrs.trunc_frac=0 >"$work/why.log" 2>&1 || bad "loop reason run: $(tail -2 "$work/why.log")"
"$bin" rl --config "$src/configs/rl_grpo_arith.yaml" --out "$work/why2" "${common[@]}" train.steps=3 rrs.groups=true \
  rrs.trunc_frac=1 rrs.kl_max=1e-12 >"$work/why2.log" 2>&1 || bad "kl reason run: $(tail -2 "$work/why2.log")"
"$bin" rl --config "$src/configs/rl_grpo_arith.yaml" --out "$work/why3" "${common[@]}" train.steps=2 rrs.groups=true \
  rrs.trunc_frac=1 kl.beta=0 rrs.logratio_max=1e-12 >"$work/why3.log" 2>&1 || bad "logratio run: $(tail -2 "$work/why3.log")"
"$py" - "$work" <<'PY' && ok || bad "deferral reasons"
import json, sys
def tot(run, k):
    return sum(json.loads(l).get(k, 0) for l in open(f"{sys.argv[1]}/{run}/metrics.jsonl"))
assert tot("why", "rrs/why/loop") > 0, "loop"
assert tot("why2", "rrs/why/kl") > 0 and tot("why2", "rrs/why/loop") == 0, "kl"
assert tot("why3", "rrs/why/logratio") > 0, "logratio"
last = [json.loads(l) for l in open(f"{sys.argv[1]}/why2/metrics.jsonl")][-1]
assert last["rrs/queue"] == last["rrs/deferred"] - last["rrs/reintroduced"] - 0, last
PY

# a NaN in the gradient: with rrs.rollback the step is rolled back to the
# last good state exactly (the dump equals the step-2 checkpoint byte for
# byte), resampled, and the run finishes; without it the run stops with a
# clear error and its checkpoints stay usable
"$bin" rl --config "$src/configs/rl_grpo_arith.yaml" --out "$work/nan" "${common[@]}" train.steps=4 ckpt.every=1 \
  ckpt.keep=0 rrs.rollback=true debug.fault=nan@3 debug.dump_rollback=true >"$work/nan.log" 2>&1 \
  && ok || bad "nan fault with rollback: $(tail -3 "$work/nan.log")"
grep -q "step 3: rolled back to step 2 (NaN/Inf in the loss" "$work/nan.log" && ok || bad "rollback log line: $(grep rolled "$work/nan.log")"
grep -q '"rrs/rollbacks":1' "$work/nan/metrics.jsonl" && [ -e "$work/nan/model/model.safetensors" ] && ok \
  || bad "the run went on to the end after the rollback"
for f in model.safetensors optim.safetensors; do
  cmp -s "$work/nan/ckpt/step-00000002/$f" "$work/nan/rollback/ckpt/step-00000002/$f" && ok \
    || bad "rollback restored a different $f than step 2 ended with"
done
# the same with PPO: the critic, the value head and their optimisers come back too
for mode in separate shared; do
  "$bin" rl --config "$src/configs/rl_ppo_arith.yaml" --out "$work/nan_$mode" "${common[@]}" train.steps=4 ckpt.every=1 \
    ckpt.keep=0 rrs.rollback=true debug.fault=nan@3 debug.dump_rollback=true critic.mode=$mode >"$work/nan_$mode.log" 2>&1 \
    || bad "ppo ($mode) nan fault: $(tail -2 "$work/nan_$mode.log")"
  for f in model.safetensors optim.safetensors critic.safetensors; do
    cmp -s "$work/nan_$mode/ckpt/step-00000002/$f" "$work/nan_$mode/rollback/ckpt/step-00000002/$f" && ok \
      || bad "ppo ($mode): rollback restored a different $f"
  done
done
# guard.nonfinite=stop: a clear error, and the checkpoints stay usable
expect_fail "guard.nonfinite=skip or rollback" "$bin" rl --config "$src/configs/rl_grpo_arith.yaml" --out "$work/nan2" \
  "${common[@]}" train.steps=4 ckpt.every=1 debug.fault=nan@3 guard.nonfinite=stop
"$bin" rl --resume "$work/nan2" debug.fault= >"$work/nan2.log" 2>&1 && ok || bad "resume after a NaN stop: $(tail -2 "$work/nan2.log")"
# the default guard skips the step's optimiser update: the weights after
# step 3 are those after step 2, an event line says so, the run finishes
"$bin" rl --config "$src/configs/rl_grpo_arith.yaml" --out "$work/nan3" "${common[@]}" train.steps=4 ckpt.every=1 \
  ckpt.keep=0 debug.fault=nan@3 >"$work/nan3.log" 2>&1 && ok || bad "nan fault skipped: $(tail -3 "$work/nan3.log")"
grep -q "step 3: NaN/Inf in the loss; its optimiser step is skipped" "$work/nan3.log" && ok \
  || bad "skip log line: $(grep -i finite "$work/nan3.log")"
grep -q '"step":3,"event":"nonfinite","what":"the loss","action":"skip"' "$work/nan3/metrics.jsonl" && ok \
  || bad "skip event line: $(grep event "$work/nan3/metrics.jsonl")"
grep -q '"guard/skips":1' "$work/nan3/metrics.jsonl" && [ -e "$work/nan3/model/model.safetensors" ] && ok \
  || bad "the run went on after the skip"
for f in model.safetensors optim.safetensors; do
  cmp -s "$work/nan3/ckpt/step-00000002/$f" "$work/nan3/ckpt/step-00000003/$f" && ok || bad "the skipped step changed $f"
done
# a NaN in the weights after a finite update cannot be skipped: the run
# stops before a checkpoint takes it; with guard.nonfinite=rollback the
# step is restored and resampled
expect_fail "after a finite update" "$bin" rl --config "$src/configs/rl_grpo_arith.yaml" \
  --out "$work/nanw" "${common[@]}" train.steps=4 ckpt.every=1 ckpt.keep=0 debug.fault=nan_weight@3
[ "$(readlink "$work/nanw/ckpt/latest" || cat "$work/nanw/ckpt/latest")" != "" ] && ok || bad "nanw: no latest checkpoint"
"$py" - "$work/nanw" <<'PY' && ok || bad "nanw: a checkpoint holds a NaN, or step 3 was written"
import glob, json, math, os, struct, sys
import numpy as np
d = sys.argv[1]
cks = sorted(glob.glob(d + "/ckpt/step-*"))
assert [os.path.basename(c) for c in cks] == ["step-00000001", "step-00000002"], cks
for c in cks:
    for f in glob.glob(c + "/*.safetensors"):
        b = open(f, "rb").read()
        n = struct.unpack("<Q", b[:8])[0]
        h = json.loads(b[8:8 + n])
        for k, v in h.items():
            if k == "__metadata__": continue
            assert v["dtype"] == "F32", (f, k)
            s, e = v["data_offsets"]
            x = np.frombuffer(b[8 + n + s:8 + n + e], dtype=np.float32)
            assert np.isfinite(x).all(), (f, k)
PY
"$bin" rl --config "$src/configs/rl_grpo_arith.yaml" --out "$work/nanw2" "${common[@]}" train.steps=4 ckpt.every=1 \
  debug.fault=nan_weight@3 guard.nonfinite=rollback >"$work/nanw2.log" 2>&1 && ok || bad "nan weight rolled back: $(tail -3 "$work/nanw2.log")"
grep -q "step 3: rolled back to step 2 (NaN/Inf in the policy weights" "$work/nanw2.log" && ok \
  || bad "nan weight rollback line: $(grep rolled "$work/nanw2.log")"
expect_fail "guard.max_skips" "$bin" rl --config "$src/configs/rl_grpo_arith.yaml" --out "$work/x" "${common[@]}" \
  train.steps=4 guard.max_skips=0
# every step spiking: the run stops after rrs.max_retries rollbacks in a row
expect_fail "rollbacks in a row" "$bin" rl --config "$src/configs/rl_grpo_arith.yaml" --out "$work/spk" "${common[@]}" \
  train.steps=8 rrs.rollback=true rrs.watch=grad_norm rrs.spike=1.000001 rrs.min_history=1 rrs.window=1 \
  debug.fault=spike@2
expect_fail "debug.fault" "$bin" rl --config "$src/configs/rl_grpo_arith.yaml" --out "$work/x" "${common[@]}" debug.fault=nan
expect_fail "rrs.watch" "$bin" rl --config "$src/configs/rl_grpo_arith.yaml" --out "$work/x" "${common[@]}" \
  rrs.rollback=true rrs.watch=kl,perplexity
expect_fail "distinct prompts" "$bin" rl --config "$src/configs/rl_grpo_arith.yaml" --out "$work/x" "${common[@]}" \
  sampler.kind=ads data.n_train=3

# an external verifier (exec) as a reward inside the trainer, logged per
# function; a verifier that crashes stops the run with its name
"$bin" rl --config "$src/configs/rl_grpo_arith.yaml" --out "$work/x1" "${common[@]}" train.steps=2 \
  "reward.spec=accuracy:1,exec(cmd=\"$py $src/tests/verifiers/ok.py\"):0.01" >"$work/x1.log" 2>&1 \
  && grep -q '"reward/exec":[1-9]' "$work/x1/metrics.jsonl" && ok || bad "exec reward in rl: $(tail -2 "$work/x1.log")"
expect_fail "exec" "$bin" rl --config "$src/configs/rl_grpo_arith.yaml" --out "$work/x2" "${common[@]}" train.steps=2 \
  "reward.spec=accuracy:1,exec(cmd=\"$py $src/tests/verifiers/crash.py\")"

# a model with more embedding rows than tokenizer ids (as Qwen2 has): a
# sampled padding id decodes to nothing instead of stopping the run
"$bin" init --preset micro --out "$work/micro" --seed 1 >/dev/null
"$bin" rl --config "$src/configs/rl_grpo_arith.yaml" --out "$work/m" model.path="$work/micro" rollout.prompts=2 \
  rollout.n=2 rollout.max_new_tokens=16 train.steps=1 eval.every=0 threads=2 >"$work/m.log" 2>&1 \
  && ok || bad "padded vocabulary: $(tail -2 "$work/m.log")"

# a hand-edited state.json (it holds the other files' checksums, not its own): counts are checked, not cast
ck=$(cat "$work/grpo.b/ckpt/latest")
for edit in "sampler.cursor=-3" "guard.skips=2.5"; do
  rm -rf "$work/grpo.e" && cp -r "$work/grpo.b" "$work/grpo.e"
  "$py" - "$work/grpo.e/ckpt/$ck/state.json" "$edit" <<'PY'
import json, sys
key, val = sys.argv[2].split("=")
d = json.load(open(sys.argv[1]))
o = d["state"]
for k in key.split(".")[:-1]: o = o[k]
o[key.split(".")[-1]] = float(val) if "." in val else int(val)
json.dump(d, open(sys.argv[1], "w"))
PY
  expect_fail "checkpoint state: ${edit%%=*}" "$bin" rl --resume "$work/grpo.e" train.steps=8
done

# resuming with a critic the run never had names the cause
expect_fail "no critic in the checkpoint (the run was not started with algo.adv=gae)" "$bin" rl --resume "$work/grpo.b" \
  algo.adv=gae train.steps=8
# a checkpoint with a damaged file is refused, not half-loaded
printf 'x' >>"$work/grpo.b/ckpt/$ck/optim.safetensors"
expect_fail "checksum" "$bin" rl --resume "$work/grpo.b" train.steps=8
# SIGTERM to thinkrl takes the exec verifier's process group along (it runs
# in a group of its own, which a terminal's Ctrl-C does not reach)
hang="$src/tests/verifiers/hang.py"
"$bin" rl --config "$src/configs/rl_grpo_arith.yaml" --out "$work/sig" "${common[@]}" \
  "reward.spec=exec(cmd='python3 $hang child',timeout=120):1" >"$work/sig.log" 2>&1 &
rlpid=$!
# the verifier that got a request: thinkrl's newest hang.py child, once its sleep runs
vpid=
for _ in $(seq 600); do
  v=$(pgrep -n -P "$rlpid" -f "$hang child")
  [ -n "$v" ] && ps -eo pgid=,args= | awk -v g="$v" '$1 == g && $2 == "sleep"' | grep -q . && { vpid=$v; break; }
  sleep 0.1
done
sleep 0.5
kill -TERM "$rlpid"; wait "$rlpid"; st=$?
left=0
for _ in $(seq 50); do
  left=$(ps -eo pgid=,stat= | awk -v g="${vpid:-0}" '$1 == g && $2 !~ /^Z/' | wc -l) # zombies: init's to reap
  [ "$left" = 0 ] && break; sleep 0.1
done
[ -n "$vpid" ] && [ "$st" = 143 ] && [ "$left" = 0 ] && ok \
  || bad "SIGTERM: verifier '$vpid', exit $st, $left processes left in its group: $(tail -2 "$work/sig.log")"
finish rl_cli
