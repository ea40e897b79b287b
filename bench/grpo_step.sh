#!/usr/bin/env bash
# GRPO step benchmark: one full `thinkrl rl` step of configs/rl_grpo_arith.yaml
# on micro against a PyTorch reference step (bench/grpo_ref.py) on the same
# weights: 16 arith prompts x 8 responses x exactly 64 new tokens (eos
# ignored), temperature-1 sampling with per-token log-probs (KV cache, all 128
# rows together), scoring (accuracy + 0.1 * format on the decoded text) and
# GRPO advantages, reference-model log-probs (a second copy, no grad), then
# one update: policy forward + backward in micro-batches of 32 rows, clipped
# surrogate + 0.04 * k3 KL, seq-mean-token-mean, grad clip 1.0, one AdamW
# step. 2 threads each. Prints the time split and the ratio per phase.
# Asserts nothing.
# usage: bench/grpo_step.sh [BUILD_DIR]
# env: BENCH_THREADS (2), GRPO_STEPS (3: thinkrl steps, the first is warm-up),
#      GRPO_TORCH_STEPS (2: timed torch steps after 1 warm-up).
#
# thinkrl times: perf/{gen,score,ref,update,step}_s of RUN/metrics.jsonl, mean
# of steps 2..GRPO_STEPS; total is perf/step_s (the whole step: also
# advantages, KL stats and metrics). torch: mean of the timed steps; total is
# the step's wall time.
# Differences in the work, all small:
# - Prompts are "A+B=" with 3-digit operands on both sides
#   (data.task_options=digits=3) so every prompt is 8 tokens and the torch side
#   needs no padding; the prompts themselves differ (each side draws its own),
#   the shapes do not: prefill 128 x 8, 64 decode steps, training rows of
#   8 + 64 - 1 = 71 tokens.
# - The model is a random init: rewards are all 0, so advantages and the
#   policy gradient are 0 on both sides (the forward, backward and AdamW work
#   is done in full all the same; thinkrl reports grad_norm 0, so does torch).
# - `thinkrl init` gives micro 2048 embedding rows but a 264-id byte-level
#   tokenizer; the random model samples ids >= 264, which decode to nothing
#   on both sides (as in Hugging Face tokenizers).
# - torch prefills all 128 rows (each prompt 8 times); thinkrl does what its
#   rollout does. torch computes the entropy too (thinkrl logs it), but not
#   thinkrl's other metrics (clip fractions, ratio stats).
# ceiling: the total ratio thinkrl would reach running every matrix product
# of the step (2 x matmul params x 9088 tokens for generate and for
# reference, 3x that for update; attention left out, ~2%) at thinkrl's sgemm
# peak with nothing else to do. When torch already runs near that peak, 5x
# is out of reach whatever thinkrl does.
# Threads as in bench/run.sh: thinkrl with the OpenMP defaults and threads=2,
# PyTorch with 2 threads and OMP_WAIT_POLICY=PASSIVE (via bench/torchenv.py).
# On a machine shared with other CPU-bound jobs the numbers swing by several
# times (spinning OpenMP threads wait on descheduled siblings); run twice.
# `OMP_WAIT_POLICY=PASSIVE bash bench/grpo_step.sh` runs thinkrl with passive
# waits too (torch has them anyway): on a loaded machine that shows how much
# of thinkrl's time is spinning; the first table line says which was used.
set -euo pipefail
build=${1:-build}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
py=${PYTHON_TORCH:-/usr/bin/python3}
threads=${BENCH_THREADS:-2}
steps=${GRPO_STEPS:-3}
tsteps=${GRPO_TORCH_STEPS:-2}
work=$(mktemp -d /tmp/thinkrl-grpobench.XXXXXX)
trap 'rm -rf "$work"' EXIT

echo "== GRPO step on micro: 16 prompts x 8 responses x 64 new tokens (eos ignored), micro-batch 32, $threads threads =="
echo "thinkrl OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-(OpenMP default)}; torch OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}"
. "$here/torchblas.sh"
read -r peak peak_what <<<"$(sgemm_peak "$build" "$threads")"
"$build/thinkrl" init --preset micro --out "$work/model" --seed 1 >/dev/null
"$build/thinkrl" rl --config "$root/configs/rl_grpo_arith.yaml" --out "$work/run" model.path="$work/model" \
  data.task=arith "data.task_options=digits=3 ops=add" rollout.prompts=16 rollout.n=8 rollout.max_new_tokens=64 \
  rollout.ignore_eos=true train.steps="$steps" train.micro_batch=32 eval.every=0 ckpt.every=0 log.samples=0 \
  threads="$threads" >"$work/rl.log" 2>&1 || { cat "$work/rl.log" >&2; exit 1; }
t=$(torch_env "$py" "$here/grpo_ref.py" --model "$work/model" --prompts 16 --n 8 --new 64 --micro-batch 32 --digits 3 \
  --steps "$tsteps" --warmup 1 --threads "$threads" --json | tail -n 1)
"$py" - "$work/run/metrics.jsonl" "$t" "$work/model/config.json" "$peak" <<'EOF'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
torch = json.loads(sys.argv[2])
meas = lines[1:] or lines
def mean(k):
    return sum(l["perf/" + k] for l in meas) / len(meas)
lens = sorted({l["len/mean"] for l in lines})
print("thinkrl: mean of steps %s (step 1 warm-up), len/mean %s; torch: mean of %d steps after 1 warm-up"
      % ("..".join(str(l["step"]) for l in (meas[0], meas[-1])), "/".join("%g" % x for x in lens),
         torch["timed_steps"]))
print("%-10s %11s %11s %8s" % ("phase", "thinkrl_s", "torch_s", "ratio"))
for name, k in (("generate", "gen_s"), ("score", "score_s"), ("reference", "ref_s"),
                ("update", "update_s"), ("total", "step_s")):
    c, p = mean(k), torch[k]
    print("%-10s %11.4f %11.4f %7.2fx" % (name, c, p, p / c if c > 0 else float("nan")))
print("per step (thinkrl): " + "; ".join("step %d %.2fs (gen %.2f, ref %.2f, update %.2f)" % (
    l["step"], l["perf/step_s"], l["perf/gen_s"], l["perf/ref_s"], l["perf/update_s"]) for l in lines))
print("per step (torch):   " + "; ".join("%.2fs (gen %.2f, ref %.2f, update %.2f)" % (
    s["step_s"], s["gen_s"], s["ref_s"], s["update_s"]) for s in torch["steps"]))
c = json.load(open(sys.argv[3]))
C, Fd, L, V = c["hidden_size"], c["intermediate_size"], c["num_hidden_layers"], c["vocab_size"]
NH, KVH = c["num_attention_heads"], c["num_key_value_heads"]
HS = c.get("head_dim") or C // NH
pm = L * (C * (NH + 2 * KVH) * HS + NH * HS * C + 3 * C * Fd) + V * C
rows, T = 128, torch["prompt_len"] + 64 - 1
fl = {"gen_s": 2 * pm * rows * T, "ref_s": 2 * pm * rows * T, "update_s": 6 * pm * rows * T}
pk = float(sys.argv[4]) * 1e9
print("torch's products ran on OpenBLAS %s (OPENBLAS_CORETYPE %s)" % (torch.get("blas_core", "?"),
      torch.get("openblas_coretype") or "unset: OpenBLAS detected the CPU"))
print("sgemm peak %.1f GFLOP/s; torch GFLOP/s: generate %.1f, reference %.1f, update %.1f; thinkrl: %.1f, %.1f, %.1f"
      % ((pk / 1e9,) + tuple(fl[k] / torch[k] / 1e9 for k in ("gen_s", "ref_s", "update_s"))
         + tuple(fl[k] / mean(k) / 1e9 for k in ("gen_s", "ref_s", "update_s"))))
print("ceiling (all matrix products at sgemm peak, nothing else): %.2fx on the whole step"
      % (torch["step_s"] / (sum(fl.values()) / pk)))
print("target: >= 5x PyTorch on the whole step; measured %.2fx" % (torch["step_s"] / mean("step_s")))
EOF
