// Tokenizer encode throughput, transformers.js side (@lenml/tokenizers, the
// tokenizers of transformers.js): same corpus, same files, same passes as
// bench_tokenizer; prints one JSON line with the best pass in MB/s.
//   node bench/tok/bench.mjs --tokenizer DIR --corpus FILE [--passes 3]
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";

const require = createRequire(new URL("../../tests/tok/package.json", import.meta.url));
const { TokenizerLoader } = require("@lenml/tokenizers");
const args = process.argv.slice(2);
const opt = (k, d) => (args.indexOf(k) >= 0 ? args[args.indexOf(k) + 1] : d);
const dir = opt("--tokenizer"), corpus = opt("--corpus"), passes = Number(opt("--passes", "3"));
const docs = fs.readFileSync(corpus, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l));
const enc = new TextEncoder();
const bytes = docs.reduce((s, d) => s + enc.encode(d).length, 0);
let t0 = performance.now();
const tok = TokenizerLoader.fromPreTrained({
  tokenizerJSON: JSON.parse(fs.readFileSync(path.join(dir, "tokenizer.json"), "utf8")),
  tokenizerConfig: JSON.parse(fs.readFileSync(path.join(dir, "tokenizer_config.json"), "utf8")),
});
const load = (performance.now() - t0) / 1e3;
let best = Infinity, first = 0, tokens = 0;
for (let p = 0; p < passes; p++) {
  tokens = 0;
  t0 = performance.now();
  for (const d of docs) tokens += tok.encode(d).length;
  const dt = (performance.now() - t0) / 1e3;
  if (p === 0) first = dt;
  best = Math.min(best, dt);
}
console.log(JSON.stringify({ impl: "transformers.js", docs: docs.length, mb: +(bytes / 1e6).toFixed(3), tokens,
  load_s: +load.toFixed(3), first_pass_mbps: +(bytes / 1e6 / first).toFixed(2), mbps: +(bytes / 1e6 / best).toFixed(2) }));
