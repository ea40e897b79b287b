// Writes the benchmark corpus: documents (prose, code, CJK + math, mixed
// scripts, emoji and special tokens) totalling about MB megabytes, one JSON
// string per line; deterministic.
//   node bench/tok/gen_corpus.mjs OUT.jsonl [MB=12]
import fs from "node:fs";
import { benchCorpus } from "../../tests/tok/corpus.mjs";
const [out, mb = "12"] = process.argv.slice(2);
const docs = benchCorpus(Number(mb));
fs.writeFileSync(out, docs.map((d) => JSON.stringify(d)).join("\n") + "\n");
