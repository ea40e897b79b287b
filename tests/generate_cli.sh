#!/usr/bin/env bash
# `thinkrl generate` end to end on a fixture model with a byte-level
# tokenizer: JSON fields, log-probs against `thinkrl score` (the training
# forward), seeds and thread counts, eos / stop / length, prompt files and
# chat, and bad inputs that must fail with a message naming the culprit
# before anything is generated.
# usage: generate_cli.sh THINKRL GENERATE_FIXTURE PYTHON WORKDIR
set -uo pipefail
bin=$1 fixture=$2 py=$3 work=$4/generate_cli
rm -rf "$work" && mkdir -p "$work"
here=$(cd "$(dirname "$0")" && pwd)
QUIET_STDOUT=1
. "$(dirname "$0")/testlib.sh"
# pyj 'EXPR' FILE: evaluates a Python expression over L = the JSON lines of FILE
pyj() { "$py" -c "import json,sys; L=[json.loads(l) for l in open(sys.argv[2])]; sys.exit(0 if ($1) else 1)" "$1" "$2"; }

m=$work/model
"$fixture" "$m" && ok || { bad "fixture"; echo "generate_cli: $pass passed, $fail failed"; exit 1; }
"$bin" generate --help >"$work/help" && grep -q -- "--prompt-ids" "$work/help" && ok || bad "generate --help"

# greedy, ids in, JSON out; the policy log-probs equal `thinkrl score` of the whole sequence
"$bin" generate --model "$m" --prompt-ids 72,101,108,108,111 --max-new-tokens 12 --temperature 0 --json >"$work/g.json" \
  && ok || bad "greedy --json"
pyj 'len(L)==1 and L[0]["prompt_ids"]==[72,101,108,108,111] and len(L[0]["ids"])==12 and len(L[0]["logprobs"])==12 and L[0]["finish_reason"]=="length" and "text" in L[0] and all(x==0 for x in L[0]["sample_logprobs"])' "$work/g.json" \
  && ok || bad "greedy JSON fields: $(cat "$work/g.json")"
ids=$("$py" -c 'import json,sys; d=json.loads(open(sys.argv[1]).readline()); print(",".join(map(str, d["prompt_ids"]+d["ids"])))' "$work/g.json")
"$bin" score --model "$m" --ids "$ids" --json >"$work/score.json" && ok || bad "score"
"$py" - "$work/g.json" "$work/score.json" <<'EOF' && ok || bad "generate log-probs vs score"
import json, sys
g = json.loads(open(sys.argv[1]).readline()); s = json.load(open(sys.argv[2]))["logprobs"]
ref = s[len(g["prompt_ids"]) - 1:]
d = max(abs(a - b) / (1e-5 + 1e-5 * abs(b)) for a, b in zip(g["logprobs"], ref))
print("generate_cli: generation log-probs vs thinkrl score: worst |diff|/(1e-5+1e-5|ref|) = %.3g" % d)
sys.exit(0 if len(ref) == len(g["logprobs"]) and d <= 1 else 1)
EOF

# sampling: n samples in order; same seed -> same output whatever the threads and slots; another seed differs
run() { "$bin" generate --model "$m" --prompt "The answer is" --n 4 --max-new-tokens 10 --temperature 1 --top-p 0.95 --seed "$@" --json; }
run 7 --threads 1 --slots 1 >"$work/s1.json" && run 7 --threads 2 >"$work/s2.json" && run 8 >"$work/s3.json" && ok || bad "sampling runs"
pyj '[(d["prompt"],d["sample"]) for d in L]==[(0,0),(0,1),(0,2),(0,3)] and all(len(d["ids"])==len(d["logprobs"])==len(d["sample_logprobs"]) for d in L)' "$work/s1.json" \
  && ok || bad "n samples in order"
"$py" -c 'import json,sys; a,b,c=[[json.loads(l)["ids"] for l in open(f)] for f in sys.argv[1:]]; sys.exit(0 if a==b and a!=c else 1)' \
  "$work/s1.json" "$work/s2.json" "$work/s3.json" && ok || bad "seeds: same seed must repeat across threads/slots, another must differ"

# --no-pack (decode from the weights as loaded): the same samples, log-probs within the parity tolerance
# (8 sequences at once: the default run decodes them with the packed weights)
"$bin" generate --model "$m" --prompt "The answer is" --n 8 --max-new-tokens 10 --seed 3 --json >"$work/p1.json" \
  && "$bin" generate --model "$m" --prompt "The answer is" --n 8 --max-new-tokens 10 --seed 3 --json --no-pack >"$work/p2.json" \
  && ok || bad "--no-pack runs"
"$py" - "$work/p1.json" "$work/p2.json" <<'EOF' && ok || bad "--no-pack: other samples or log-probs"
import json, sys
a, b = [[json.loads(l) for l in open(f)] for f in sys.argv[1:]]
d = max(abs(x - y) / (1e-5 + 1e-5 * abs(y)) for p, q in zip(a, b) for x, y in zip(p["logprobs"], q["logprobs"]))
print("generate_cli: --no-pack vs packed log-probs: worst |diff|/(1e-5+1e-5|ref|) = %.3g" % d)
sys.exit(0 if len(a) == len(b) == 8 and [p["ids"] for p in a] == [q["ids"] for q in b] and d <= 1 else 1)
EOF
grep -q -- "--no-pack" "$work/help" && ok || bad "--no-pack in --help"

# eos: an id the greedy run produced (not the first) ends the sample there
eos=$("$py" -c 'import json,sys; d=json.loads(open(sys.argv[1]).readline()); i=d["ids"]; k=next(j for j in range(1,len(i)) if i[j] not in i[:j]); print(i[k], k+1)' "$work/g.json")
set -- $eos
"$bin" generate --model "$m" --prompt-ids 72,101,108,108,111 --max-new-tokens 12 --temperature 0 --eos "$1" --json >"$work/e.json" \
  && pyj "L[0]['finish_reason']=='eos' and len(L[0]['ids'])==$2" "$work/e.json" && ok || bad "eos: $(cat "$work/e.json")"
"$bin" generate --model "$m" --prompt-ids 72,101,108,108,111 --max-new-tokens 12 --temperature 0 --eos "$1" --ignore-eos --json >"$work/e2.json" \
  && pyj "L[0]['finish_reason']=='length' and len(L[0]['ids'])==12" "$work/e2.json" && ok || bad "--ignore-eos"

# stop string: two characters of the greedy text that span a token boundary, taken from a run on
# printable bytes only (prompt ids from the text)
"$bin" generate --model "$m" --prompt "abc" --max-new-tokens 40 --temperature 0 --ignore-eos --json >"$work/t.json" && ok || bad "text run"
stop=$("$py" - "$work/t.json" <<'EOF'
import json, sys
d = json.loads(open(sys.argv[1]).readline())
ids = d["ids"]
# first boundary between two single-byte printable ASCII tokens whose pair does not occur earlier
for k in range(1, len(ids)):
    a, b = ids[k - 1], ids[k]
    if 33 <= a < 127 and 33 <= b < 127 and a != 92 and b != 92:
        s = chr(a) + chr(b)
        txt = "".join(chr(x) if x < 128 else "\x00" for x in ids[:k - 1])
        if s not in txt and chr(a) not in txt[-1:]:
            print(s, k + 1)
            break
EOF
)
if [ -n "$stop" ]; then
  set -- $stop
  "$bin" generate --model "$m" --prompt "abc" --max-new-tokens 40 --temperature 0 --ignore-eos --stop "zzzz" --stop "$1" --json >"$work/st.json" \
    && pyj "L[0]['finish_reason']=='stop' and len(L[0]['ids'])<=$2 and L[0]['text'].endswith('$1')" "$work/st.json" && ok || bad "stop string '$1': $(cat "$work/st.json")"
else
  echo "generate_cli: note: greedy text had no printable pair for the stop-string check"
fi
"$bin" generate --model "$m" --prompt-ids 1,2 --max-new-tokens 63 --temperature 0 --ignore-eos --json >"$work/ctx.json" \
  && pyj "L[0]['finish_reason']=='length' and len(L[0]['ids'])==62" "$work/ctx.json" && ok || bad "context end (64 positions, prompt of 2)"

# prompt files: text, ids and chat messages; blank lines skipped; --chat
cat >"$work/p.jsonl" <<'EOF'
{"prompt": "2+2="}

{"prompt_ids": [10, 20, 30]}
{"messages": [{"role": "user", "content": "hi"}]}
EOF
"$bin" generate --model "$m" --prompts "$work/p.jsonl" --n 2 --max-new-tokens 5 --json >"$work/f.json" && ok || bad "--prompts"
pyj 'len(L)==6 and [d["prompt"] for d in L]==[0,0,1,1,2,2] and L[2]["prompt_ids"]==[10,20,30] and L[4]["prompt_ids"][0]==262 and L[0]["prompt_ids"]==[50,43,50,61]' "$work/f.json" \
  && ok || bad "--prompts content: $(head -c 600 "$work/f.json")"
"$bin" generate --model "$m" --prompt "hi" --chat --max-new-tokens 3 --json >"$work/c.json" \
  && pyj 'L[0]["prompt_ids"]==[262]+list(b"user\nhi")+[263,10,262]+list(b"assistant\n")' "$work/c.json" \
  && ok || bad "--chat: $(cat "$work/c.json")"
# plain output: text (or ids without a tokenizer)
"$bin" generate --model "$m" --prompt "abc" --max-new-tokens 5 --temperature 0 >"$work/plain.txt" 2>/dev/null && [ -s "$work/plain.txt" ] && ok || bad "text output"
notok=$work/notok && mkdir -p "$notok" && cp "$m/config.json" "$m/model.safetensors" "$notok/"
"$bin" generate --model "$notok" --prompt-ids 5,6,7 --max-new-tokens 4 --json >"$work/nt.json" \
  && pyj '"text" not in L[0] and len(L[0]["ids"])==4' "$work/nt.json" && ok || bad "--prompt-ids without a tokenizer"
"$bin" generate --model "$notok" --prompt-ids 5,6,7 --max-new-tokens 4 --temperature 0 2>/dev/null | grep -Eq '^[0-9]+(,[0-9]+){3}$' && ok || bad "ids printed without a tokenizer"

# bad inputs: clear errors, nothing generated
long=$("$py" -c 'print(",".join(["5"]*64))')
expect_fail "--prompt-ids: the prompt has 64 tokens; the context holds 64" "$bin" generate --model "$m" --prompt-ids "$long"
expect_fail "token id 264 (position 1) is outside the model's vocabulary of 264" "$bin" generate --model "$m" --prompt-ids 5,264
expect_fail "--prompt-ids" "$bin" generate --model "$m" --prompt-ids 5,x
expect_fail "--prompt-ids" "$bin" generate --model "$m" --prompt-ids=-1
expect_fail "--n: expected an integer in [1, 65536], got '0'" "$bin" generate --model "$m" --prompt-ids 5 --n 0
expect_fail "--n: expected an integer in [1, 65536]" "$bin" generate --model "$m" --prompt-ids 5 --n 100000000000
expect_fail "--max-new-tokens: expected a positive integer, got '0'" "$bin" generate --model "$m" --prompt-ids 5 --max-new-tokens 0
expect_fail "--max-new-tokens 1000 exceeds the model's context of 64" "$bin" generate --model "$m" --prompt-ids 5 --max-new-tokens 1000
expect_fail "--max-new-tokens" "$bin" generate --model "$m" --prompt-ids 5 --max-new-tokens 99999999999999
expect_fail "--top-p" "$bin" generate --model "$m" --prompt-ids 5 --top-p 0
expect_fail "--temperature" "$bin" generate --model "$m" --prompt-ids 5 --temperature -1
expect_fail "--min-p" "$bin" generate --model "$m" --prompt-ids 5 --min-p 1
expect_fail "exactly one of --prompt" "$bin" generate --model "$m" --prompt a --prompt-ids 5
expect_fail "--model is required" "$bin" generate --prompt-ids 5
expect_fail "unknown flag" "$bin" generate --model "$m" --prompt-ids 5 --bogus 1
expect_fail "needs a tokenizer" "$bin" generate --model "$notok" --prompt "hello"
expect_fail "--stop needs a tokenizer" "$bin" generate --model "$notok" --prompt-ids 5 --stop x
printf '{"prompt": "ok"}\n{"prompt": "broken\n{"prompt": "fine"}\n' >"$work/broken.jsonl"
expect_fail "broken.jsonl:2: invalid JSON at column" "$bin" generate --model "$m" --prompts "$work/broken.jsonl"
printf '{"prompt": "ok"}\n\n{"prompt_ids": [1, 999]}\n' >"$work/badid.jsonl"
expect_fail "badid.jsonl:3: token id 999" "$bin" generate --model "$m" --prompts "$work/badid.jsonl"
printf '{"prompt": "ok"}\n{"text": "x"}\n' >"$work/nokey.jsonl"
expect_fail "nokey.jsonl:2: expected exactly one of" "$bin" generate --model "$m" --prompts "$work/nokey.jsonl"
printf '{"prompt_ids": []}\n' >"$work/empty.jsonl"
expect_fail "empty.jsonl:1: \"prompt_ids\" is empty" "$bin" generate --model "$m" --prompts "$work/empty.jsonl"
printf '\n\n' >"$work/none.jsonl"
expect_fail "no prompts" "$bin" generate --model "$m" --prompts "$work/none.jsonl"
"$py" -c 'import json; print(json.dumps({"prompt": "x" * 100}))' >"$work/longtext.jsonl"
expect_fail "longtext.jsonl:1: the prompt has 100 tokens" "$bin" generate --model "$m" --prompts "$work/longtext.jsonl"
expect_fail "No such file" "$bin" generate --model "$m" --prompts "$work/missing.jsonl"
expect_fail "--eos" "$bin" generate --model "$m" --prompt-ids 5 --eos 1000
# what cJSON alone would let through: a second value on the line (its prompt
# was dropped) and "\u0000" (the string was cut there)
printf '{"prompt":"Hi"}{"prompt":"Yo"}\n' >"$work/two.jsonl"
expect_fail "two.jsonl:1: invalid JSON at column 16 (text after the value)" "$bin" generate --model "$m" --prompts "$work/two.jsonl"
printf '{"prompt":"a\\u0000bcd"}\n' >"$work/nul.jsonl"
expect_fail "nul.jsonl:1: invalid JSON at column 13 (\\u0000 is not supported)" "$bin" generate --model "$m" --prompts "$work/nul.jsonl"
# a temperature whose inverse overflows a float is greedy (it gave NaN log-probs)
"$bin" generate --model "$m" --prompt-ids 72,101 --max-new-tokens 6 --temperature 1e-40 --json >"$work/t40.json" \
  && "$bin" generate --model "$m" --prompt-ids 72,101 --max-new-tokens 6 --temperature 0 --json >"$work/t0.json" \
  && "$py" -c 'import json,sys; a,b=[json.loads(open(f).readline()) for f in sys.argv[1:]]; sys.exit(0 if a["ids"]==b["ids"] and a["sample_logprobs"]==[0]*6 else 1)' \
  "$work/t40.json" "$work/t0.json" && ok || bad "--temperature 1e-40: $(cat "$work/t40.json")"
# seeds are 64 bits: 2^64-1 is the same seed as -1
"$bin" generate --model "$m" --prompt "ab" --max-new-tokens 6 --seed 18446744073709551615 --json >"$work/su.json" \
  && "$bin" generate --model "$m" --prompt "ab" --max-new-tokens 6 --seed -1 --json >"$work/sm.json" \
  && cmp -s "$work/su.json" "$work/sm.json" && ok || bad "--seed 2^64-1 vs -1"
expect_fail "--seed: expected an integer in [-2^63, 2^64)" "$bin" generate --model "$m" --prompt-ids 5 --seed 18446744073709551616
# output that cannot be written is an error, however small
if [ -w /dev/full ]; then
  expect_fail "write error" sh -c "'$bin' generate --model '$m' --prompt-ids 5 --max-new-tokens 2 --json >/dev/full"
  expect_fail "write error on standard output" sh -c "'$bin' score --model '$m' --ids 5,6 --json >/dev/full"
  expect_fail "write error on standard output" sh -c "'$bin' info --model '$m' >/dev/full"
fi
# a KV cache larger than the memory available is refused before it is
# allocated, with a --slots that fits (nano: 2 KiB per position; 65,536
# sequences of 1,005 positions at once need 126 GiB)
"$bin" init --preset nano --out "$work/nano" --seed 1 >/dev/null
expect_fail "would fit" "$bin" generate --model "$work/nano" --prompt-ids 5,6,7,8,9 --n 65536 --slots 65536 \
  --max-new-tokens 1000

# ids the model has but the tokenizer does not (nano: 512 rows, 264 ids):
# a byte held for an unfinished character ends there, so a stop string
# fires only on text that is in the output
"$bin" generate --model "$work/nano" --prompt "Hi" --n 32 --max-new-tokens 40 --seed 22 --ignore-eos --json \
  --stop 'ݵ' --stop 'é' --stop 'ß' --stop 'ñ' >"$work/unk.json" \
  && pyj 'len(L)==32 and all(any(s in d["text"] for s in ("ݵ","é","ß","ñ")) for d in L if d["finish_reason"]=="stop")' "$work/unk.json" \
  && ok || bad "stop strings with ids unknown to the tokenizer: $(head -c 400 "$work/unk.json")"
# eval's default --max-new-tokens (128) is capped by a shorter context (64 here)
printf '{"prompt": "1+1=", "answer": "2"}\n' >"$work/ev.jsonl"
"$bin" eval --model "$m" --data "$work/ev.jsonl" --n 1 >/dev/null 2>"$work/ev.err" && ok || bad "eval default max-new-tokens on a 64-token context: $(cat "$work/ev.err")"
expect_fail "--max-new-tokens 100 exceeds the model's context of 64" "$bin" eval --model "$m" --data "$work/ev.jsonl" --max-new-tokens 100
expect_fail "-:1: invalid JSON at column 6 (text after the value)" sh -c "printf '\"Hi\" junk\n' | '$bin' tokenize --tokenizer '$m' --input -"
expect_fail "--ids: not a JSON array" "$bin" detokenize --tokenizer "$m" --ids "[72,105],[1]"

finish generate_cli
