// `thinkrl tokenize` / `thinkrl detokenize` end to end: --input files of JSON
// strings against transformers.js, --text / --ids / --json forms, the
// byte-level tokenizer, and bad input (invalid JSON line, id out of range,
// unknown flag) failing with a message that names the line or the id.
//
//   node cli.mjs --thinkrl THINKRL --bin CHECK_TOKENIZER --work DIR
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";
import { corpus, wellFormed } from "./corpus.mjs";

const require = createRequire(import.meta.url);
const args = process.argv.slice(2);
const opt = (k) => (args.indexOf(k) >= 0 ? args[args.indexOf(k) + 1] : undefined);
const thinkrl = opt("--thinkrl"), bin = opt("--bin"), work = path.join(opt("--work"), "cli");
fs.mkdirSync(work, { recursive: true });
const { TokenizerLoader } = require("@lenml/tokenizers");

let fails = 0, checks = 0;
const check = (ok, what) => {
  checks++;
  if (!ok) {
    fails++;
    console.error("FAIL: " + what);
  }
};
const sh = (argv, input) => spawnSync(thinkrl, argv, { input, encoding: "utf8", maxBuffer: 1 << 28 });

for (const model of ["qwen3", "llama3_2"]) {
  const dir = path.dirname(require.resolve(`@lenml/tokenizer-${model}/models/tokenizer.json`));
  const ref = TokenizerLoader.fromPreTrained({
    tokenizerJSON: JSON.parse(fs.readFileSync(path.join(dir, "tokenizer.json"), "utf8")),
    tokenizerConfig: JSON.parse(fs.readFileSync(path.join(dir, "tokenizer_config.json"), "utf8")),
  });
  const texts = corpus().filter((t, i) => i % 4 === 0 && wellFormed(t) && !t.includes("\u0000"));
  const inF = path.join(work, `${model}-texts.jsonl`);
  fs.writeFileSync(inF, texts.map((t) => JSON.stringify(t)).join("\n") + "\n");
  const r = sh(["tokenize", "--tokenizer", dir, "--input", inF]);
  check(r.status === 0, `${model}: tokenize --input exit ${r.status}: ${r.stderr}`);
  const lines = r.stdout.split("\n").filter(Boolean).map((l) => JSON.parse(l).ids);
  let same = 0;
  for (let i = 0; i < texts.length; i++) same += JSON.stringify(lines[i]) === JSON.stringify(ref.encode(texts[i]));
  check(same === texts.length, `${model}: tokenize --input ${same}/${texts.length}`);

  const idsF = path.join(work, `${model}-ids.jsonl`);
  const idLists = lines.filter((x) => x && x.length);
  fs.writeFileSync(idsF, idLists.map((x) => JSON.stringify(x)).join("\n") + "\n");
  const d = sh(["detokenize", "--tokenizer", dir, "--input", idsF, "--skip-special"]);
  check(d.status === 0, `${model}: detokenize --input exit ${d.status}: ${d.stderr}`);
  const dl = d.stdout.split("\n").filter(Boolean).map((l) => JSON.parse(l));
  let dsame = 0;
  for (let i = 0; i < idLists.length; i++) dsame += dl[i] === ref.decode(idLists[i], { skip_special_tokens: true });
  check(dsame === idLists.length, `${model}: detokenize --input ${dsame}/${idLists.length}`);
  console.log(`cli ${model}: tokenize --input ${same}/${texts.length} identical to transformers.js, ` +
    `detokenize --input --skip-special ${dsame}/${idLists.length} identical`);

  const t = sh(["tokenize", "--tokenizer", dir, "--text", "Hello world", "--json"]);
  check(t.stdout.trim() === JSON.stringify({ ids: ref.encode("Hello world") }), `${model}: --text --json: ${t.stdout}`);
  const t2 = sh(["tokenize", "--tokenizer", dir, "--text", "Hello world", "--no-special"]);
  check(t2.stdout.trim() === ref.encode("Hello world", { add_special_tokens: false }).join(" "), `${model}: --no-special`);
  const ids = ref.encode("Grüße, 世界! 😀");
  const d2 = sh(["detokenize", "--tokenizer", dir, "--ids", ids.join(",")]);
  check(d2.stdout === ref.decode(ids) + "\n", `${model}: --ids: ${JSON.stringify(d2.stdout)}`);

  fs.writeFileSync(path.join(work, "bad.jsonl"), "\"ok\"\n\"also ok\"\n{not json\n\"never reached\"\n");
  const b = sh(["tokenize", "--tokenizer", dir, "--input", path.join(work, "bad.jsonl")]);
  check(b.status !== 0 && /bad\.jsonl:3:/.test(b.stderr), `${model}: invalid JSON line named: ${b.stderr}`);
  const o = sh(["detokenize", "--tokenizer", dir, "--ids", "1,2,99999999"]);
  check(o.status !== 0 && /99999999/.test(o.stderr), `${model}: out-of-range id named: ${o.stderr}`);
  const o2 = sh(["detokenize", "--tokenizer", dir, "--ids", "-5"]);
  check(o2.status !== 0 && /-5/.test(o2.stderr), `${model}: negative id: ${o2.stderr}`);
}

// byte-level tokenizer through the CLI: ids are the UTF-8 bytes, specials follow 255
const bl = path.join(work, "bytelevel");
spawnSync(bin, ["write-byte-level", bl], { stdio: "inherit" });
const text = "héllo <think>\n";
const want = [...Buffer.from("héllo ", "utf8")].concat([258], [10]);
const r = sh(["tokenize", "--tokenizer", bl, "--text", text, "--json"]);
check(r.stdout.trim() === JSON.stringify({ ids: want }), `bytelevel tokenize: ${r.stdout}`);
const d = sh(["detokenize", "--tokenizer", bl, "--ids", JSON.stringify(want), "--json"]);
check(d.stdout.trim() === JSON.stringify(text), `bytelevel detokenize: ${d.stdout}`);

// help texts list every flag with its default; unknown flags fail
for (const [cmd, flags] of [["tokenize", ["--tokenizer", "--text", "--input", "--json", "--no-special", "--split-special"]],
  ["detokenize", ["--tokenizer", "--ids", "--input", "--skip-special", "--no-cleanup", "--json"]]]) {
  const h = sh([cmd, "--help"]);
  check(h.status === 0 && flags.every((f) => h.stdout.includes(f)) && (h.stdout.match(/default/g) || []).length >= flags.length - 1,
    `${cmd} --help`);
  const u = sh([cmd, "--bogus"]);
  check(u.status !== 0 && /--bogus/.test(u.stderr), `${cmd} unknown flag`);
}
console.log(`cli: ${checks - fails}/${checks} checks passed`);
process.exit(fails ? 1 : 0);
