#!/usr/bin/env bash
# Crash safety: an RL run on the tiny fixture base (rl_base.sh), checkpointing
# every step, is killed with SIGKILL at random moments (20 kills landed,
# seeded) and resumed each time from its latest checkpoint; a run that dies
# before its first checkpoint starts again. Kills that leave a half-written
# checkpoint (a .tmp-step-* directory) are counted: the resume must ignore
# it. Every run that reaches its end must equal an uninterrupted run: same
# weights, same metrics but for timings.
# usage: rl_kill.sh THINKRL PYTHON WORKDIR [KILLS]
set -uo pipefail
bin=$1 py=$2 work=$3/rl_kill kills=${4:-20}
base=$3/rl_base/model
rm -rf "$work" && mkdir -p "$work"
. "$(dirname "$0")/testlib.sh"
steps=10
args=(model.path="$base" data.task=arith "data.task_options=digits=1" rollout.prompts=4 rollout.n=4
      rollout.max_new_tokens=32 eval.every=0 log.samples=2 threads=2 train.steps=$steps ckpt.every=1 ckpt.keep=2)

t0=$(date +%s%N)
"$bin" rl --out "$work/straight" "${args[@]}" >"$work/straight.log" 2>&1 || { bad "straight run: $(tail -2 "$work/straight.log")"; finish rl_kill; exit; }
span=$((($(date +%s%N) - t0) / 1000000))   # ms: kills land anywhere in one run's length
RANDOM=7
run=$work/run landed=0 midwrite=0 finished=0 resumes=0 tries=0
while [ $landed -lt "$kills" ] && [ $tries -lt $((kills * 5)) ]; do
  tries=$((tries + 1))
  if [ -f "$run/ckpt/latest" ]; then
    "$bin" rl --resume "$run" >"$work/try.log" 2>&1 &
    resumes=$((resumes + 1))
  else
    rm -rf "$run"
    "$bin" rl --out "$run" "${args[@]}" >"$work/try.log" 2>&1 &
  fi
  pid=$!
  d=$(((RANDOM * 32768 + RANDOM) % span))
  sleep "$(printf '%d.%03d' $((d / 1000)) $((d % 1000)))"
  if kill -9 $pid 2>/dev/null; then
    wait $pid 2>/dev/null
    landed=$((landed + 1))
    ls -d "$run"/ckpt/.tmp-step-* >/dev/null 2>&1 && midwrite=$((midwrite + 1))
  elif wait $pid; then   # it ended before the kill: it must match the straight run
    finished=$((finished + 1))
    same_result "run $finished" "$work/straight" "$run" $steps
    rm -rf "$run"
  else
    bad "a resume failed: $(tail -2 "$work/try.log")"
    rm -rf "$run"
  fi
done
[ $landed -ge "$kills" ] && ok || bad "only $landed kills landed in $tries tries"
# the last one runs to its end
if [ -f "$run/ckpt/latest" ]; then
  "$bin" rl --resume "$run" >"$work/try.log" 2>&1 || bad "the last resume failed: $(tail -2 "$work/try.log")"
  resumes=$((resumes + 1))
else
  rm -rf "$run"
  "$bin" rl --out "$run" "${args[@]}" >"$work/try.log" 2>&1 || bad "the last run failed: $(tail -2 "$work/try.log")"
fi
same_result "last run" "$work/straight" "$run" $steps
finished=$((finished + 1))
echo "rl_kill: $landed SIGKILLs ($midwrite during a checkpoint write), $resumes resumes, $finished runs to the end, each equal to the straight run"
finish rl_kill
