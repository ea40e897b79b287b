// Compares thinkrl's tokenizer (through tests/check_tokenizer) with
// transformers.js (@lenml/tokenizers, the tokenizers of @huggingface/transformers)
// on the deterministic corpus of corpus.mjs: token ids with and without the
// post-processor, ids of invalid UTF-8 input (the reference sees what node's
// TextDecoder makes of the bytes), and decodes (plain, skip_special_tokens,
// without clean-up) of whole sequences, windows that cut characters, and
// single tokens. Exits non-zero on any difference.
//
//   node compare.mjs --bin CHECK_TOKENIZER --model qwen3|llama3|qwen2_5|llama3_2|gpt2|bytelevel
//                    --work DIR [--pcre]
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";
import { corpus, invalidUtf8, rng, wellFormed } from "./corpus.mjs";

const require = createRequire(import.meta.url);
const args = process.argv.slice(2);
const opt = (k) => (args.indexOf(k) >= 0 ? args[args.indexOf(k) + 1] : undefined);
const bin = opt("--bin"), model = opt("--model"), work = opt("--work");
const pcre = args.includes("--pcre");
if (!bin || !model || !work) {
  console.error("usage: node compare.mjs --bin CHECK_TOKENIZER --model NAME --work DIR [--pcre]");
  process.exit(2);
}
const tag = model + (pcre ? " (PCRE2 regex)" : "");
fs.mkdirSync(work, { recursive: true });

function run(mode, dir, input, extra = []) {
  const inF = path.join(work, `${model}${pcre ? "-pcre" : ""}-${mode}-in.jsonl`);
  const outF = path.join(work, `${model}${pcre ? "-pcre" : ""}-${mode}-out.jsonl`);
  fs.writeFileSync(inF, input.map((x) => JSON.stringify(x)).join("\n") + "\n");
  const r = spawnSync(bin, [mode, dir, inF, outF, ...extra], { stdio: ["ignore", "inherit", "inherit"] });
  if (r.status !== 0) {
    console.error(`${tag}: check_tokenizer ${mode} failed (status ${r.status})`);
    process.exit(1);
  }
  return fs.readFileSync(outF, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l));
}

// ---- the reference tokenizer, loaded from the same files thinkrl reads ----
const { TokenizerLoader } = require("@lenml/tokenizers");
let dir;
if (model === "bytelevel") {
  dir = path.join(work, "bytelevel");
  const r = spawnSync(bin, ["write-byte-level", dir], { stdio: "inherit" });
  if (r.status !== 0) process.exit(1);
} else {
  dir = path.dirname(require.resolve(`@lenml/tokenizer-${model}/models/tokenizer.json`));
}
const tokenizerJSON = JSON.parse(fs.readFileSync(path.join(dir, "tokenizer.json"), "utf8"));
const tokenizerConfig = JSON.parse(fs.readFileSync(path.join(dir, "tokenizer_config.json"), "utf8"));
const ref = TokenizerLoader.fromPreTrained({ tokenizerJSON, tokenizerConfig });

// ---- encode ----
const texts = corpus();
const bad = invalidUtf8();
const hex = (b) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
const encIn = texts.map((t) => ({ text: t })).concat(bad.map((b) => ({ hex: hex(b) })));
const refTexts = texts.concat(bad.map((b) => new TextDecoder().decode(b)));
const t0 = Date.now();
const refIds = refTexts.map((t) => ref.encode(t));
const refPlain = refTexts.map((t) => ref.encode(t, { add_special_tokens: false }));
const tJs = Date.now() - t0;
const got = run("encode", dir, encIn, pcre ? ["--pcre"] : []);
let same = 0, samePlain = 0, sameBad = 0, shown = 0;
const eq = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);
for (let i = 0; i < refTexts.length; i++) {
  const g = got[i];
  const ok = g && !g.error && eq(g.ids, refIds[i]);
  const okp = g && !g.error && eq(g.ids_plain, refPlain[i]);
  if (i < texts.length) {
    same += ok;
    samePlain += okp;
  } else sameBad += ok && okp;
  if ((!ok || !okp) && shown++ < 5)
    console.error(`${tag}: MISMATCH on ${JSON.stringify(refTexts[i]).slice(0, 200)}\n  want ${JSON.stringify(refIds[i]).slice(0, 300)}\n  got  ${JSON.stringify(g).slice(0, 300)}`);
}

// ---- the split regex alone: every match, against the JavaScript RegExp transformers.js builds ----
let splitSame = 0, splitN = 0;
const pt = ref.pre_tokenizer;
const uses = (x) => x && x.pattern && x.use_regex !== false; // ByteLevel without use_regex splits nothing
const step = pt && (pt.tokenizers ? pt.tokenizers.find(uses) : uses(pt) ? pt : null);
if (step && step.pattern instanceof RegExp) {
  const valid = texts.filter((t) => wellFormed(t));
  const sp = run("split", dir, valid.map((t) => ({ text: t })), pcre ? ["--pcre"] : []);
  splitN = valid.length;
  shown = 0;
  for (let i = 0; i < valid.length; i++) {
    const want = Array.from(valid[i].matchAll(step.pattern), (m) => m[0]);
    const ok = eq(sp[i].matches, want);
    splitSame += ok;
    if (!ok && shown++ < 5)
      console.error(`${tag}: SPLIT MISMATCH on ${JSON.stringify(valid[i]).slice(0, 200)}\n  want ${JSON.stringify(want).slice(0, 300)}\n  got  ${JSON.stringify(sp[i].matches).slice(0, 300)}`);
  }
}

// ---- decode ----
const r = rng(99);
const seqs = [];
for (let i = 0; i < texts.length; i++) {
  const ids = refIds[i];
  if (!ids.length) continue;
  seqs.push(ids);
  if (ids.length > 1) { // a window that may cut characters in two
    const a = r.int(ids.length), b = a + 1 + r.int(ids.length - a);
    seqs.push(ids.slice(a, b));
  }
  if (i % 7 === 0) for (const id of ids.slice(0, 20)) seqs.push([id]);
}
const decIn = seqs.map((ids) => ({ ids }));
const dec = run("decode", dir, decIn);
let dPlain = 0, dSkip = 0, dRaw = 0, dStream = 0;
shown = 0;
for (let i = 0; i < seqs.length; i++) {
  const want = ref.decode(seqs[i]);
  const wantSkip = ref.decode(seqs[i], { skip_special_tokens: true });
  const wantRaw = ref.decode(seqs[i], { clean_up_tokenization_spaces: false });
  const g = dec[i] || {};
  dPlain += g.text === want;
  dSkip += g.text_skip === wantSkip;
  dRaw += g.text_raw === wantRaw;
  dStream += g.stream_ok === true;
  if ((g.text !== want || g.text_skip !== wantSkip || g.text_raw !== wantRaw || g.stream_ok !== true) && shown++ < 5)
    console.error(`${tag}: DECODE MISMATCH ids ${JSON.stringify(seqs[i]).slice(0, 200)}\n  want ${JSON.stringify([want, wantSkip, wantRaw]).slice(0, 300)}\n  got  ${JSON.stringify(g).slice(0, 300)}`);
}

const n = texts.length, nb = bad.length, nd = seqs.length;
if (splitN) console.log(`${tag}: split regex ${splitSame}/${splitN} strings with identical matches to the JavaScript RegExp`);
console.log(`${tag}: encode ${same}/${n} identical ids (add_special_tokens), ${samePlain}/${n} identical ids (without); ` +
  `invalid UTF-8 ${sameBad}/${nb}; decode ${dPlain}/${nd} identical, skip_special ${dSkip}/${nd}, ` +
  `no clean-up ${dRaw}/${nd}, streaming ${dStream}/${nd} whole characters and equal`);
console.log(`${tag}: transformers.js encoded ${refTexts.length * 2} strings in ${tJs} ms`);
const ok = splitSame === splitN && same === n && samePlain === n && sameBad === nb && dPlain === nd && dSkip === nd && dRaw === nd && dStream === nd;
process.exit(ok ? 0 : 1);
