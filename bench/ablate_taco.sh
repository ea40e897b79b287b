#!/usr/bin/env bash
# bench/ablate_taco.sh: the TACO ablation. For each task, GRPO from the task's
# base model in five variants with the same seeds and the same rollout budget
# (rollout.prompts x rollout.n x train.steps): the preset as is (grpo), the
# TACO reward (tac), the adaptive-difficulty sampler (ads), rollback and
# resampling (rrs), and all three (all); then one table per task.
# It does not tune anything: every variant is the preset plus its overrides.
#
# usage: bash bench/ablate_taco.sh [OUT_DIR]          (default runs/ablate_taco)
# env:   STEPS=100                 RL steps of every run (train.steps)
#        TASKS="arith countdown"   tasks; configs/rl_grpo_<task>.yaml is the preset
#        VARIANTS="grpo tac ads rrs all"
#        TARGET=                   eval/acc level for "steps to target"
#                                  (default 0.8 for arith, 0.2 for countdown)
#        EXTRA="data.n_train=512"  more overrides for every run (space separated)
#        FORCE=1                   rerun variants whose run already finished
#        THREADS=$(nproc)  BIN=build/thinkrl
# Writes OUT_DIR/<task>/<variant>/ (a thinkrl rl run directory, plus
# ablate.args and ablate.wall_s), OUT_DIR/ablation.md and, when `thinkrl
# report` compares several runs, OUT_DIR/<task>/compare.html.
# Before any run, every variant's keys are checked (--print-config) and each
# variant takes one tiny step, so an unsupported one stops the script at once.
# A variant whose run finished with the same overrides is kept (FORCE=1
# reruns it); an unfinished or differently configured one starts again.
set -euo pipefail

# paths given by the caller are relative to where it stands; the rest to the repository
here=$PWD
root=$(cd "$(dirname "$0")/.." && pwd)
abs() { case "$1" in /*) echo "$1" ;; *) echo "$here/$1" ;; esac; }
out=${1:-runs/ablate_taco}
[ -n "${1:-}" ] && out=$(abs "$out")
bin=build/thinkrl
[ -n "${BIN:-}" ] && bin=$(abs "$BIN")
cd "$root"
steps=${STEPS:-100}
tasks=${TASKS:-arith countdown}
variants=${VARIANTS:-grpo tac ads rrs all}
threads=${THREADS:-$(nproc)}
force=${FORCE:-0}
# a shared 2-core machine: spinning OpenMP threads cost everyone several-fold
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}

die() { echo "ablate_taco: error: $*" >&2; exit 1; }
say() { echo "ablate_taco: $*"; }

[ -x "$bin" ] || die "$bin not found or not executable (build first: cmake --build build -j2, or set BIN)"
case "$steps" in '' | *[!0-9]* | 0) die "STEPS must be a positive integer, got '$steps'" ;; esac
command -v python3 >/dev/null || die "python3 is needed for the tables"

# the overrides of one variant, one per line (values may hold commas and parentheses)
variant_args() {  # TASK VARIANT
    local tac
    case "$1" in
        countdown) tac='reward.spec=taco(acc=equation)' ;;  # the task's correctness is the equation verifier
        *) tac='reward.spec=taco' ;;
    esac
    case "$2" in
        grpo) ;;
        tac) echo "$tac" ;;
        ads) echo "sampler.kind=ads" ;;
        rrs) printf '%s\n' rrs.groups=true rrs.rollback=true ;;
        all) printf '%s\n' "$tac" sampler.kind=ads rrs.groups=true rrs.rollback=true ;;
        *) return 1 ;;
    esac
    local x
    for x in ${EXTRA:-}; do echo "$x"; done
}

default_target() {  # TASK
    case "$1" in arith) echo 0.8 ;; countdown) echo 0.2 ;; *) echo 0.5 ;; esac
}

# where each task's base model lives and how it is built
base_dir() {  # TASK
    case "$1" in
        arith) echo runs/demo/base ;;
        countdown) echo runs/countdown_base ;;
        *) return 1 ;;
    esac
}

# comments and the thread count do not change a configuration's meaning
normalise_config() { sed -e 's/[[:space:]]*#.*$//' -e '/^[[:space:]]*$/d' -e '/^threads:/d' "$1"; }

ensure_base() {  # TASK
    local task=$1 dir cfg
    dir=$(base_dir "$task")
    cfg=configs/base_$task.yaml
    [ -f "$cfg" ] || die "no base config $cfg for task $task"
    if [ -f "$dir/model/model.safetensors" ]; then
        if [ -f "$dir/config.yaml" ] &&
            ! cmp -s <("$bin" sft --config "$cfg" threads="$threads" --print-config | normalise_config /dev/stdin) \
                <(normalise_config "$dir/config.yaml"); then
            say "warning: $dir was built from a different configuration than $cfg (kept; delete $dir to rebuild)"
        fi
        say "$task base: $dir/model (cached)"
        return
    fi
    say "$task base: missing, SFT from scratch ($cfg -> $dir)"
    rm -rf "$dir"
    mkdir -p "$(dirname "$dir")"
    local t0=$SECONDS
    # the same command as scripts/demo.sh (for arith: its base, runs/demo/base)
    "$bin" sft --config "$cfg" --out "$dir" threads="$threads" ||
        die "$task base: thinkrl sft failed (config $cfg); see the messages above"
    say "$task base: built in $((SECONDS - t0))s"
    if [ "$task" = arith ]; then  # scripts/demo.sh then finds its base cached
        "$bin" sft --config "$cfg" threads="$threads" --print-config >"$(dirname "$dir")/base.expected.yaml"
    fi
}

# ---- 1. every (task, variant) is known and its keys are accepted, before any work
bad=0
for task in $tasks; do
    preset=configs/rl_grpo_$task.yaml
    [ -f "$preset" ] || die "task '$task': no preset $preset"
    base_dir "$task" >/dev/null || die "task '$task': no base model recipe (known: arith, countdown)"
    for v in $variants; do
        variant_args "$task" "$v" >/dev/null ||
            die "unknown variant '$v' (known: grpo tac ads rrs all)"
        mapfile -t args < <(variant_args "$task" "$v")
        if ! msg=$("$bin" rl --config "$preset" --out /nonexistent "${args[@]}" train.steps="$steps" \
            eval.every=10 --print-config 2>&1 >/dev/null); then
            echo "ablate_taco: error: variant '$v' on $task: this thinkrl rejects its keys (${args[*]:-none}):" >&2
            echo "  $msg" >&2
            bad=1
        fi
    done
done
[ "$bad" = 0 ] || die "unsupported variants (above): leave them out of VARIANTS or rebuild thinkrl with them"

mkdir -p "$out"
t_all=$SECONDS

# ---- 2. the base models
for task in $tasks; do ensure_base "$task"; done

# ---- 3. one tiny step of every variant: --print-config does not parse
# reward.spec, and a bad spec should stop the script now, not after hours
smoke=$(mktemp -d "${TMPDIR:-/tmp}/ablate_taco.XXXXXX")
trap 'rm -rf "$smoke"' EXIT
for task in $tasks; do
    for v in $variants; do
        mapfile -t args < <(variant_args "$task" "$v")
        if ! msg=$("$bin" rl --config "configs/rl_grpo_$task.yaml" --out "$smoke/$task-$v" "${args[@]}" \
            "model.path=$(base_dir "$task")/model" train.steps=1 rollout.prompts=2 rollout.n=2 \
            rollout.max_new_tokens=8 eval.every=0 ckpt.every=0 log.samples=0 "threads=$threads" 2>&1); then
            echo "ablate_taco: error: variant '$v' on $task fails its 1-step check (${args[*]:-no overrides}):" >&2
            echo "$msg" | tail -5 | sed 's/^/  /' >&2
            bad=1
        fi
    done
done
[ "$bad" = 0 ] || die "variants that cannot run (above): leave them out of VARIANTS or fix thinkrl"
rm -rf "$smoke"

# ---- 4. the runs
for task in $tasks; do
    preset=configs/rl_grpo_$task.yaml
    for v in $variants; do
        run=$out/$task/$v
        mapfile -t args < <(variant_args "$task" "$v")
        args+=("model.path=$(base_dir "$task")/model" "train.steps=$steps" eval.every=10 "threads=$threads")
        want=$(printf '%s\n' "$preset" "${args[@]}" | grep -v '^threads=')
        if [ "$force" != 1 ] && [ -f "$run/model/model.safetensors" ] && [ -f "$run/ablate.args" ] &&
            [ "$(cat "$run/ablate.args")" = "$want" ]; then
            say "$task/$v: finished earlier, kept ($run; FORCE=1 reruns)"
            continue
        fi
        [ -d "$run" ] && say "$task/$v: removing the old or unfinished run $run"
        rm -rf "$run"
        mkdir -p "$(dirname "$run")"
        say "$task/$v: thinkrl rl --config $preset ${args[*]}"
        t0=$SECONDS
        if ! "$bin" rl --config "$preset" --out "$run" "${args[@]}"; then
            die "$task/$v: thinkrl rl failed (exit above); the partial run is in $run"
        fi
        [ -f "$run/model/model.safetensors" ] || die "$task/$v: thinkrl rl ended without $run/model"
        echo "$((SECONDS - t0))" >"$run/ablate.wall_s"
        printf '%s\n' "$want" >"$run/ablate.args"
    done
done

# ---- 5. the tables (and the overlays, when `thinkrl report` compares runs)
report_many=0
"$bin" report --help 2>&1 | grep -q -- '--labels' && report_many=1
md=$out/ablation.md
{
    echo "# TACO ablation"
    echo
    echo "GRPO presets configs/rl_grpo_<task>.yaml, $steps steps, eval.every=10${EXTRA:+, $EXTRA}; same seeds and"
    echo "rollout budget for every variant. Written by bench/ablate_taco.sh on $(date -u '+%Y-%m-%d %H:%M UTC')."
} >"$md"
for task in $tasks; do
    target=${TARGET:-$(default_target "$task")}
    runs=()
    for v in $variants; do runs+=("$v=$out/$task/$v"); done
    python3 - "$task" "$target" "${runs[@]}" >>"$md" <<'PY'
import json, math, os, sys

task, target = sys.argv[1], float(sys.argv[2])
print("\n## %s (target eval/acc %g)\n" % (task, target))
print("| variant | final eval acc | best eval acc | steps to target | consistency rate | rollbacks | wall s |")
print("|---|---|---|---|---|---|---|")
for arg in sys.argv[3:]:
    name, run = arg.split("=", 1)
    rows = []
    with open(os.path.join(run, "metrics.jsonl")) as f:
        for n, line in enumerate(f, 1):
            try:
                rows.append(json.loads(line))
            except ValueError:
                print("ablate_taco: %s/metrics.jsonl:%d: bad line skipped" % (run, n), file=sys.stderr)
    def num(x):
        return isinstance(x, (int, float)) and math.isfinite(x)
    ev = [(r["step"], r["eval/acc"]) for r in rows if num(r.get("eval/acc"))]
    steps = [r for r in rows if num(r.get("step")) and "reward/mean" in r]  # training steps, not eval-only lines
    last = steps[-10:]
    cons = [r["taco/consistency_rate"] for r in last if num(r.get("taco/consistency_rate"))]
    rb = [r["rrs/rollbacks"] for r in rows if num(r.get("rrs/rollbacks"))]
    hit = [s for s, a in ev if a >= target]
    wall = "-"
    try:
        wall = open(os.path.join(run, "ablate.wall_s")).read().strip()
    except OSError:
        pass
    pct = lambda a: "%.1f%%" % (100 * a)
    print("| %s | %s | %s | %s | %s | %d | %s |" % (
        name,
        pct(ev[-1][1]) if ev else "-",
        pct(max(a for _, a in ev)) if ev else "-",
        "%d" % hit[0] if hit else "-",
        "%.3f" % (sum(cons) / len(cons)) if cons else "-",
        int(rb[-1]) if rb else 0,
        wall))
PY
    nvar=$(wc -w <<<"$variants")
    if [ "$nvar" -lt 2 ]; then
        say "one variant: no $task/compare.html"
    elif [ "$report_many" = 1 ]; then
        labels=
        dirs=()
        for v in $variants; do
            dirs+=("$out/$task/$v")
            labels+=${labels:+,}$v
        done
        extra=()
        "$bin" report --help 2>&1 | grep -q -- '--target' && extra=(--target "$target")
        if "$bin" report "${dirs[@]}" --labels "$labels" "${extra[@]}" --out "$out/$task/compare.html" >/dev/null; then
            echo >>"$md"
            echo "Overlay of the variants: $task/compare.html" >>"$md"
        else
            say "warning: thinkrl report could not compare the $task runs (no compare.html)"
        fi
    else
        say "thinkrl report takes one run only here: no $task/compare.html"
    fi
done
cat "$md"
say "done in $((SECONDS - t_all))s; table in $md"
