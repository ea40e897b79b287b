# Shared by the shell tests: pass/fail counters and expect_fail.
# Source after setting $work (scratch directory). Set QUIET_STDOUT=1 to
# also require that a failing command printed nothing on stdout.
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }
# expect_fail NEEDLE CMD...: non-zero exit and NEEDLE (fixed string) in stderr
expect_fail() {
  local needle=$1; shift
  if "$@" >"$work/out" 2>"$work/err"; then bad "should fail: $*"; return; fi
  if ! grep -qF -- "$needle" "$work/err"; then bad "message of '$*' lacks '$needle': $(cat "$work/err")"; return; fi
  if [ "${QUIET_STDOUT:-0}" = 1 ] && [ -s "$work/out" ]; then bad "'$*' printed output before failing"; return; fi
  ok
}
# finish NAME: prints the counts, exits non-zero on any failure
finish() {
  echo "$1: $pass passed, $fail failed"
  [ "$fail" = 0 ]
}
