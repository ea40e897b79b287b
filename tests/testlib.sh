# Shared by the shell tests: pass/fail counters and expect_fail.
# Source after setting $work (scratch directory). Set QUIET_STDOUT=1 to
# also require that a failing command printed nothing on stdout.
pass=0 fail=0 refused=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }
# expect_fail NEEDLE CMD...: non-zero exit and NEEDLE (fixed string) in stderr
expect_fail() {
  local needle=$1; shift
  refused=$((refused + 1))
  if "$@" >"$work/out" 2>"$work/err"; then bad "should fail: $*"; return; fi
  if ! grep -qF -- "$needle" "$work/err"; then bad "message of '$*' lacks '$needle': $(cat "$work/err")"; return; fi
  if [ "${QUIET_STDOUT:-0}" = 1 ] && [ -s "$work/out" ]; then bad "'$*' printed output before failing"; return; fi
  ok
}
# finish NAME: prints the counts, exits non-zero on any failure
finish() {
  echo "$1: $pass passed, $fail failed ($refused bad inputs refused with the expected message)"
  [ "$fail" = 0 ]
}
# same_result NAME A B [STEPS]: two RL run directories ended with the same
# weights and the same metrics.jsonl but for perf/* timings, STEPS (6) steps
# each (needs $py)
same_result() {
  cmp -s "$2/model/model.safetensors" "$3/model/model.safetensors" && ok || bad "$1: weights differ after resume"
  "$py" - "$2/metrics.jsonl" "$3/metrics.jsonl" "${4:-6}" <<'PY' && ok || bad "$1: metrics differ after resume"
import json, sys
def load(p):
    return [{k: v for k, v in json.loads(l).items() if not k.startswith("perf/")} for l in open(p)]
a, b = load(sys.argv[1]), load(sys.argv[2])
assert len([x for x in a if "event" not in x]) == int(sys.argv[3]) and a == b, (len(a), len(b))
PY
}
