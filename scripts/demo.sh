#!/usr/bin/env bash
# make demo: the full path, end to end, on 2 cores in under 12 minutes.
# 1. builds the embedded base model from scratch: a 0.8M-parameter
#    byte-level decoder trained by SFT on `arith` traces in three styles of
#    different reliability (configs/base_arith.yaml; cached in $DEMO_DIR/base
#    and rebuilt only when the config changes);
# 2. evaluates it on held-out problems: accuracy, pass@k, maj@k and, per
#    reasoning pattern, its share and its accuracy;
# 3. runs GRPO on it (configs/rl_grpo_arith.yaml): rewards accuracy + format,
#    KL to the frozen base;
# 4. evaluates the trained policy on the same problems, writes the HTML
#    report, and prints one line: accuracy before -> after, and how the
#    share of the base's most reliable pattern moved.
set -euo pipefail
build=${1:-build}
bin="$build/thinkrl"
out=${DEMO_DIR:-runs/demo}
threads=${DEMO_THREADS:-$(nproc)}
steps=${DEMO_RL_STEPS:-}
mkdir -p "$out"
cfg=configs/base_arith.yaml
rl_cfg=configs/rl_grpo_arith.yaml
t_all=$(date +%s)

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

# the held-out problems: the RL config's task options, another seed
opts=$(sed -n 's/^  task_options: *"\(.*\)"/\1/p' "$rl_cfg")
echo "== held-out problems ($opts): 200, 8 samples each at temperature 1 =="
# shellcheck disable=SC2086
"$bin" data gen arith --n 200 --seed 2 --out "$out/test.jsonl" $opts
evaluate() {  # MODEL NAME
  "$bin" eval --model "$1" --data "$out/test.jsonl" --n 8 --max-new-tokens 96 --temperature 1 --seed 1 \
    --threads "$threads" --samples "$out/$2_samples.jsonl" --json-out "$out/$2_eval.json"
}
evaluate "$out/base/model" base

echo "== GRPO on the base ($rl_cfg) =="
rm -rf "$out/grpo"
"$bin" rl --config "$rl_cfg" --out "$out/grpo" model.path="$out/base/model" threads="$threads" ${steps:+train.steps=$steps}

echo "== the trained policy on the same problems =="
evaluate "$out/grpo/model" grpo
"$bin" report "$out/grpo" >/dev/null

python3 - "$out/base_eval.json" "$out/grpo_eval.json" "$out/grpo/report.html" "$(( $(date +%s) - t_all ))" <<'PY'
import json, sys
b, a = (json.load(open(p)) for p in sys.argv[1:3])
# the base's most reliable pattern among those it actually uses (>= 5% share)
pats = {k: v for k, v in b["patterns"].items() if k != "other" and v["freq"] >= 0.05}
best = max(pats, key=lambda k: pats[k]["acc"])
fa = a["patterns"].get(best, {"freq": 0})["freq"]
print("demo: base per pattern: " + ", ".join("%s %.0f%% of responses at %.0f%% accuracy" % (k, 100 * v["freq"], 100 * v["acc"])
                                          for k, v in pats.items()))
print("demo: after GRPO:       " + ", ".join("%s %.0f%% at %.0f%%" % (k, 100 * v["freq"], 100 * v["acc"])
                                          for k, v in a["patterns"].items() if k != "other" and v["count"] > 0))
print("demo: finished in %ss" % sys.argv[4])
print("demo: accuracy %.1f%% -> %.1f%%, %s share %.1f%% -> %.1f%%, report: %s"
      % (100 * b["acc"], 100 * a["acc"], best, 100 * pats[best]["freq"], 100 * fa, sys.argv[3]))
PY
