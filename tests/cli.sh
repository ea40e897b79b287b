#!/usr/bin/env bash
# CLI tests: every command's --help, init -> info -> score against PyTorch,
# and bad inputs that must fail with a message and a non-zero exit.
# usage: cli.sh THINKRL PYTHON WORKDIR
set -uo pipefail
bin=$1 py=$2 work=$3/cli
here=$(cd "$(dirname "$0")" && pwd)
rm -rf "$work" && mkdir -p "$work"
. "$(dirname "$0")/testlib.sh"

for c in init info score tokenize detokenize; do
  "$bin" "$c" --help >"$work/help" 2>&1 && grep -q -- "--" "$work/help" && ok || bad "$c --help"
done
"$bin" --help | grep -q score && ok || bad "top-level help"

"$bin" init --preset nano --out "$work/nano" --seed 3 --std 0.2 >/dev/null && ok || bad "init nano"
"$bin" info --model "$work/nano" | grep -q "parameters     854144" && ok || bad "info nano parameter count"
"$bin" info --model "$work/nano" --json | "$py" -c 'import json,sys; d=json.load(sys.stdin); sys.exit(0 if d["params"]==854144 and d["vocab_size"]==512 else 1)' && ok || bad "info --json"
ids="5,7,9,300,2,511,0,44,44,44,17"
"$bin" score --model "$work/nano" --ids "$ids" --json >"$work/score.json" && ok || bad "score"
"$py" "$here/cli_score_ref.py" "$work/nano" "$ids" "$work/score.json" && ok || bad "score vs PyTorch"

# --text goes through the tokenizer init wrote: same numbers as --ids of its encoding
[ -f "$work/nano/tokenizer.json" ] && ok || bad "init wrote no tokenizer.json"
txt='12+34=<think>4+2=6</think><answer>46</answer>'
tids=$("$bin" tokenize --tokenizer "$work/nano" --text "$txt" --json | "$py" -c 'import json,sys; print(",".join(map(str,json.load(sys.stdin)["ids"])))')
"$bin" score --model "$work/nano" --text "$txt" --json >"$work/st.json" && ok || bad "score --text"
"$bin" score --model "$work/nano" --ids "$tids" --json >"$work/si.json" && ok || bad "score --ids of tokenized text"
cmp -s "$work/st.json" "$work/si.json" && ok || bad "score --text differs from score --ids of its tokens"
"$py" "$here/cli_score_ref.py" "$work/nano" "$tids" "$work/st.json" && ok || bad "score --text vs PyTorch"

# bad inputs
expect_fail "outside the vocabulary" "$bin" score --model "$work/nano" --ids 1,2,512
expect_fail "at least two" "$bin" score --model "$work/nano" --ids 1
expect_fail "exactly one" "$bin" score --model "$work/nano" --ids 1,2 --text hi
expect_fail "cli/none" "$bin" score --model "$work/nano" --text hi --tokenizer "$work/none"
expect_fail "--ids" "$bin" score --model "$work/nano" --ids 1,x
expect_fail "not a model directory" "$bin" info --model "$work/none"
expect_fail "unknown preset" "$bin" init --preset huge --out "$work/h"
expect_fail "unknown flag" "$bin" init --preset nano --out "$work/h" --bogus 1
expect_fail "unknown command" "$bin" frobnicate
mkdir -p "$work/broken" && cp "$work/nano/model.safetensors" "$work/broken/"
echo '{"model_type":"qwen2","hidden_size":128}' >"$work/broken/config.json"
expect_fail "intermediate_size" "$bin" info --model "$work/broken"
cp "$work/nano/config.json" "$work/broken/config.json"
head -c 5000 "$work/nano/model.safetensors" >"$work/broken/model.safetensors"
expect_fail "model.safetensors" "$bin" info --model "$work/broken"

finish cli
