#!/usr/bin/env bash
# make memcheck: the main paths of thinkrl under valgrind memcheck, on a tiny
# model, in about three minutes on 2 cores: SFT (new model, checkpoint,
# --resume), GRPO with a KL reference (checkpoints, eval, --resume), PPO with
# a separate and with a shared critic, DAPO's dynamic sampler, TACO's sampler
# and a rollback, generate, eval, and two error paths (a corrupt checkpoint,
# a NaN that stops a run). Any memcheck error, any definitely / indirectly /
# possibly lost byte, or a run ending otherwise than it should fails it. Not a race detector (valgrind runs threads one
# at a time) and not a substitute for the ASan build (make test SAN=1).
# Builds build-vg/ (RelWithDebInfo, no -march=native: valgrind 3.19 cannot
# run AVX-512); logs and run directories go to build-vg/memcheck/.
# Under valgrind OpenBLAS picks its Haswell (AVX2) kernels by itself, since
# valgrind hides AVX-512 from CPUID; OPENBLAS_CORETYPE from the environment
# is passed through.
set -euo pipefail
cd "$(dirname "$0")/.."
export OMP_WAIT_POLICY=PASSIVE   # idle OpenMP workers sleep instead of spinning
build="build-vg"
out=$build/memcheck
bin=$build/thinkrl
jobs=${JOBS:-$(nproc)}

t_all=$(date +%s.%N)
command -v valgrind >/dev/null || { echo "memcheck: valgrind not found (make deps)" >&2; exit 1; }
[ -f "$build/CMakeCache.txt" ] ||
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTHINKRL_NATIVE=OFF >"$build.configure.log" 2>&1 ||
  { cat "$build.configure.log" >&2; exit 1; }
rm -f "$build.configure.log"
cmake --build "$build" -j "$jobs" --target thinkrl >"$build/build.log" 2>&1 || { cat "$build/build.log" >&2; exit 1; }
t_build=$(date +%s.%N)
echo "memcheck: $bin built in $(awk -v a="$t_all" -v b="$t_build" 'BEGIN { printf "%.1f", b - a }')s ($(valgrind --version))"

rm -rf "$out" && mkdir -p "$out"
# shellcheck disable=SC2054  # the commas are valgrind's
vg=(valgrind --tool=memcheck --leak-check=full --show-leak-kinds=definite,indirect,possible
    --errors-for-leak-kinds=definite,indirect,possible --error-exitcode=99 --track-origins=yes
    --num-callers=40 --suppressions=scripts/valgrind.supp)
status=0 failed=()
summary=()

# vg_run NAME CMD...: CMD under memcheck; log in $out/NAME.vg.log, output in
# $out/NAME.out. CMD must exit 0; an error path sets want_rc (its exit status)
# and want_msg (a fixed string its output must hold). Valgrind's own 99 means
# memcheck errors or leaks.
vg_run() {
  local name=$1; shift
  local log=$out/$name.vg.log t0 t1 rc=0 want=${want_rc:-0}
  t0=$(date +%s.%N)
  "${vg[@]}" --log-file="$log" "$@" >"$out/$name.out" 2>&1 || rc=$?
  t1=$(date +%s.%N)
  local errs def ind pos sup
  errs=$(sed -n 's/.*ERROR SUMMARY: \([0-9,]*\) errors.*/\1/p' "$log" | tail -1 | tr -d ,)
  def=$(sed -n 's/.*definitely lost: \([0-9,]*\) bytes.*/\1/p' "$log" | tail -1 | tr -d ,)
  ind=$(sed -n 's/.*indirectly lost: \([0-9,]*\) bytes.*/\1/p' "$log" | tail -1 | tr -d ,)
  pos=$(sed -n 's/.*possibly lost: \([0-9,]*\) bytes.*/\1/p' "$log" | tail -1 | tr -d ,)
  sup=$(sed -n 's/.*suppressed: \([0-9,]*\) bytes.*/\1/p' "$log" | tail -1 | tr -d ,)
  local line
  line=$(printf '%-15s %6.1fs  errors %-3s definitely %-6s indirectly %-6s possibly %-6s (suppressed %s) rc %d' \
    "$name" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" "${errs:-?}" "${def:-0}" "${ind:-0}" "${pos:-0}" \
    "${sup:-0}" "$rc")
  echo "$line"
  summary+=("$line")
  local msg_ok=1
  [ -n "${want_msg:-}" ] && ! grep -qF -- "$want_msg" "$out/$name.out" && msg_ok=0
  if [ "$rc" != "$want" ] || [ "$msg_ok" = 0 ] || [ "${errs:-1}" != 0 ] || [ "${def:-0}${ind:-0}${pos:-0}" != 000 ]; then
    status=1 failed+=("$name")
    # shellcheck disable=SC2016  # the quotes are printed, want_msg expands
    echo "---- $name: FAILED (rc $rc, expected $want${want_msg:+ and '$want_msg' in its output}); command: $*"
    { [ "$rc" != "$want" ] && [ "$rc" != 99 ]; } || [ "$msg_ok" = 0 ] && { echo "---- last lines of its output ($out/$name.out):"; tail -20 "$out/$name.out"; }
    echo "---- valgrind report ($log):"
    # the report without the banner and the closing hints, at most 300 lines
    sed -e '1,/Parent PID/d' -e '/Reachable blocks/,$d' -e 's/^==[0-9]*== \{0,1\}//' "$log" | head -300
    echo "----"
  fi
}

# A tiny base model (d 64, 2 layers, byte-level) trained natively for a few
# seconds on 1-digit additions, so that RL sees some right answers, varied
# lengths and rewards (not all-equal groups).
t0=$(date +%s.%N)
"$bin" sft --out "$out/base" model.preset=nano model.hidden_size=64 model.num_layers=2 model.num_heads=4 \
  model.num_kv_heads=2 model.intermediate_size=192 data.task=arith "data.task_options=digits=1" data.n_train=6000 \
  data.n_eval=50 train.seq_len=64 train.batch_size=16 optim.lr=3e-3 optim.warmup=20 eval.every=0 ckpt.every=0 \
  log.every=1000 threads=2 >"$out/base.out" 2>&1 || { echo "memcheck: base model SFT failed:" >&2; tail -5 "$out/base.out" >&2; exit 1; }
printf '%-15s %6.1fs  (native, no valgrind): %s\n' base "$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { print b - a }')" \
  "$(tail -1 "$out/base.out")"
base=$out/base/model

# SFT from a new model: one step, a checkpoint, stop; then --resume for the second
vg_run sft "$bin" sft --out "$out/sft" model.preset=nano model.hidden_size=32 model.num_layers=2 model.num_heads=2 \
  model.num_kv_heads=1 model.intermediate_size=64 data.task=arith "data.task_options=digits=1" data.n_train=64 \
  data.n_eval=8 train.seq_len=48 train.batch_size=4 train.grad_accum=2 train.steps=2 train.stop_after=1 \
  eval.every=1 ckpt.every=1 log.every=1 threads=2
vg_run sft_resume "$bin" sft --resume "$out/sft"

# GRPO (preset: k3 KL to the reference in the loss): 2 of 3 steps with a
# checkpoint each step (keep 1: the older one is pruned) and held-out eval,
# two micro-batches per step; then --resume for the last step
rl_small=(model.path="$base" "data.task_options=digits=1" data.n_train=64 data.n_eval=8 rollout.prompts=2
          rollout.n=4 rollout.max_new_tokens=24 train.micro_batch=4 log.samples=2 threads=2)
vg_run grpo "$bin" rl --config configs/rl_grpo_arith.yaml --out "$out/grpo" "${rl_small[@]}" train.steps=3 \
  train.stop_after=2 eval.every=2 eval.prompts=4 eval.n=2 ckpt.every=1 ckpt.keep=1
vg_run grpo_resume "$bin" rl --resume "$out/grpo"

# PPO (preset: GAE, a separate critic, k1 KL in the reward, 2 epochs x 2
# minibatches): step 1 trains only the critic (warm-up), step 2 both
vg_run ppo "$bin" rl --config configs/rl_ppo_arith.yaml --out "$out/ppo" "${rl_small[@]}" train.steps=2 \
  critic.warmup=1 train.micro_batch=2 eval.every=0 ckpt.every=0
# PPO with the critic as a value head on the policy trunk: one step
vg_run ppo_shared "$bin" rl --config configs/rl_ppo_arith.yaml --out "$out/ppo_shared" "${rl_small[@]}" \
  train.steps=1 critic.mode=shared critic.warmup=0 train.micro_batch=4 eval.every=0 ckpt.every=0

# DAPO (preset: dynamic sampling draws more groups when some have equal
# rewards, no reference model, overlong length penalty)
vg_run dapo "$bin" rl --config configs/rl_dapo_arith.yaml --out "$out/dapo" "${rl_small[@]}" train.steps=2 \
  eval.every=0 ckpt.every=0

# TACO (preset: adaptive-difficulty sampler, problematic groups deferred,
# rollback on spikes): a loss and gradient spike injected in step 3 is rolled
# back (weights and optimiser restored) and the step drawn again
vg_run taco "$bin" rl --config configs/rl_taco_arith.yaml --out "$out/taco" "${rl_small[@]}" data.n_train=12 \
  ads.retest=2 rrs.delay=1 rrs.min_history=2 debug.fault=spike@3 train.steps=3 eval.every=0 ckpt.every=0

# f-DPG, offline (a frozen proposal samples, importance weights pi/q, the
# proposal check every step) toward the reward-tilted target, with a
# checkpoint (proposal.safetensors) and the skip guard on a NaN in step 2
vg_run fdpg "$bin" rl --out "$out/fdpg" "${rl_small[@]}" data.task=arith algo.adv=fdpg fdpg.target=tilt fdpg.divergence=js \
  fdpg.offline=true fdpg.q_every=1 reward.spec=accuracy:1 train.steps=2 eval.every=0 ckpt.every=1 debug.fault=nan@2

# generate: batched decoding with fewer slots than samples (slots are reused),
# nucleus + top-k sampling, a stop string, JSON output
printf '%s\n' '{"prompt": "3+4="}' '{"prompt": "9+8="}' >"$out/prompts.jsonl"
vg_run generate "$bin" generate --model "$out/grpo/model" --prompts "$out/prompts.jsonl" --n 3 --slots 4 \
  --max-new-tokens 32 --top-p 0.9 --top-k 20 --stop "</answer>" --json --threads 2

# eval: held-out records, pass@k / maj@k / patterns, samples and JSON written
"$bin" data gen arith --n 4 --first 10000 --out "$out/eval.jsonl" digits=1 >"$out/eval_data.out" 2>&1 ||
  { cat "$out/eval_data.out" >&2; exit 1; }
vg_run eval "$bin" eval --model "$out/grpo/model" --data "$out/eval.jsonl" --n 2 --max-new-tokens 32 \
  --samples "$out/eval.samples.jsonl" --json-out "$out/eval.json" --threads 2

# error paths, each run must stop with its message and free everything:
# --resume of a checkpoint with a damaged file (refused while it loads), and
# a NaN written into the weights in the middle of step 1 (the run stops with
# the policy, reference, optimiser and rollouts all set up)
cp -r "$out/grpo" "$out/corrupt"
printf 'x' >>"$out/corrupt/ckpt/$(cat "$out/corrupt/ckpt/latest")/optim.safetensors"
want_rc=1 want_msg=checksum vg_run resume_corrupt "$bin" rl --resume "$out/corrupt"
want_rc=1 want_msg=NaN/Inf vg_run nan_stop "$bin" rl --config configs/rl_grpo_arith.yaml --out "$out/nan_stop" \
  "${rl_small[@]}" train.steps=1 debug.fault=nan_weight@1 eval.every=0

echo "memcheck: total $(awk -v a="$t_all" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')s"
if [ "$status" != 0 ]; then
  echo "memcheck: FAILED: ${failed[*]} (valgrind logs in $out/)"
  printf '  %s\n' "${summary[@]}"
  exit 1
fi
echo "memcheck: ${#summary[@]} runs under valgrind, no errors, no leaks"
