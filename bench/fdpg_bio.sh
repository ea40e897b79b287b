#!/usr/bin/env bash
# bench/fdpg_bio.sh: the f-DPG experiment. From the bio base model (about 20%
# female biographies, 5% mentioning chess), two targets: pointwise (every
# sample mentions chess; configs/fdpg_bio_pointwise.yaml) and distributional
# (50% female; configs/fdpg_bio_distributional.yaml); for each, the four
# divergences fkl, rkl, js and tv with the same seed and the same sample
# budget (rollout.prompts x rollout.n x train.steps). Then one table: the
# base's values (the first step of the js run, before any update), and per
# run the means over its last 10 steps of constraint satisfaction (E_pi[b],
# or the female share), the estimated KL(p || pi) and TV(p, pi) ("nan" when
# no sample of those steps lies in p's support: then nothing estimates them),
# KL(pi || a), distinct-1/2/3 of the step's samples (byte n-grams) and the share of
# distinct samples among the step's 64 ("unique": a collapse onto a few
# biographies shows there first).
#
# usage: bash bench/fdpg_bio.sh [OUT_DIR]          (default runs/fdpg_bio)
# env:   STEPS=100  DIVS="fkl rkl js tv"  TARGETS="pointwise distributional"
#        SEED=1  EXTRA="optim.lr=3e-5" (space separated overrides for every run)
#        FORCE=1 (rerun finished runs)  THREADS=$(nproc)  BIN=build/thinkrl
# The base model is trained first when runs/bio_base/model is missing
# (configs/base_bio.yaml, about 2 minutes on 2 cores).
# Writes OUT_DIR/<target>/<div>/ (thinkrl rl run directories),
# OUT_DIR/<target>/compare.html and OUT_DIR/fdpg_bio.md.
set -euo pipefail
here=$PWD
root=$(cd "$(dirname "$0")/.." && pwd)
abs() { case "$1" in /*) echo "$1" ;; *) echo "$here/$1" ;; esac; }
out=${1:-runs/fdpg_bio}
[ -n "${1:-}" ] && out=$(abs "$out")
bin=build/thinkrl
[ -n "${BIN:-}" ] && bin=$(abs "$BIN")
cd "$root"
steps=${STEPS:-100}
divs=${DIVS:-fkl rkl js tv}
targets=${TARGETS:-pointwise distributional}
seed=${SEED:-1}
threads=${THREADS:-$(nproc)}
read -r -a extra <<<"${EXTRA:-}"
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
[ -x "$bin" ] || { echo "fdpg_bio: $bin is missing (run make first)" >&2; exit 1; }

if [ ! -f runs/bio_base/model/model.safetensors ]; then
  echo "fdpg_bio: training the base model (runs/bio_base)"
  "$bin" sft --config configs/base_bio.yaml --out runs/bio_base threads="$threads" | tail -1
fi
for t in $targets; do
  for d in $divs; do
    run=$out/$t/$d
    args="fdpg.divergence=$d train.steps=$steps train.seed=$seed ${EXTRA:-}"
    if [ "${FORCE:-0}" != 1 ] && [ -f "$run/model/model.safetensors" ] && [ "$(cat "$run/fdpg.args" 2>/dev/null)" = "$args" ]; then
      echo "fdpg_bio: $t/$d done before (FORCE=1 reruns it)"
      continue
    fi
    rm -rf "$run"
    mkdir -p "$run"
    t0=$(date +%s)
    "$bin" rl --config "configs/fdpg_bio_$t.yaml" --out "$run" fdpg.divergence="$d" train.steps="$steps" \
      train.seed="$seed" threads="$threads" "${extra[@]}" >"$run.log" 2>&1 \
      || { echo "fdpg_bio: $t/$d failed: $(tail -3 "$run.log")" >&2; exit 1; }
    echo "$args" >"$run/fdpg.args"
    echo "fdpg_bio: $t/$d: $(($(date +%s) - t0)) s"
  done
  runs=() labels=()
  for d in $divs; do runs+=("$out/$t/$d"); labels+=("$d"); done
  if [ ${#runs[@]} -gt 1 ]; then
    "$bin" report "${runs[@]}" --labels "$(IFS=,; echo "${labels[*]}")" --out "$out/$t/compare.html" >/dev/null
  fi
done

python3 - "$out" "$targets" "$divs" <<'PY' | tee "$out/fdpg_bio.md"
import json, os, sys
out, targets, divs = sys.argv[1], sys.argv[2].split(), sys.argv[3].split()
def steps(run):
    return [x for x in map(json.loads, open(os.path.join(run, "metrics.jsonl"))) if "event" not in x]
def mean(m, k):
    if k in ("fdpg/kl_p_pi", "fdpg/tv_p_pi") and mean(m, "fdpg/support") == 0:
        return float("nan")  # no sample where p lives: the estimates see nothing of p
    v = [x[k] for x in m if x.get(k) is not None]
    return sum(v) / len(v) if v else float("nan")
cols = ["fdpg/kl_p_pi", "fdpg/tv_p_pi", "fdpg/kl_pi_a", "fdpg/distinct_1", "fdpg/distinct_2", "fdpg/distinct_3",
        "fdpg/unique"]
for t in targets:
    sat = "fdpg/b_rate" if t == "pointwise" else "fdpg/moment/contains"
    what = "E_pi[b] (chess)" if t == "pointwise" else "female share (target 0.5)"
    print("\n### %s target\n" % t)
    print("| run | %s | KL(p‖π) | TV(p,π) | KL(π‖a) | distinct-1 | distinct-2 | distinct-3 | unique |" % what)
    print("|---|---|---|---|---|---|---|---|---|")
    first = os.path.join(out, t, "js" if "js" in divs else divs[0])
    m = steps(first)[:1]
    print("| base (step 1) | " + " | ".join("%.3f" % mean(m, k) for k in [sat] + cols) + " |")
    for d in divs:
        m = steps(os.path.join(out, t, d))[-10:]
        print("| %s | " % d + " | ".join("%.3f" % mean(m, k) for k in [sat] + cols) + " |")
PY
