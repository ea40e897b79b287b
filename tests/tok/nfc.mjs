// NFC and NFD of thinkrl (generated tables, through tests/check_tokenizer)
// against node's String.prototype.normalize on the corpus and on random
// mark-heavy strings (stacked combining marks, Hangul jamo, composition
// exclusions, singletons).
//
//   node nfc.mjs --bin CHECK_TOKENIZER --work DIR
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { corpus, rng } from "./corpus.mjs";

const args = process.argv.slice(2);
const opt = (k) => (args.indexOf(k) >= 0 ? args[args.indexOf(k) + 1] : undefined);
const bin = opt("--bin"), work = opt("--work");
fs.mkdirSync(work, { recursive: true });

const r = rng(31337);
const pool = [0x41, 0x61, 0x65, 0x6f, 0x73, 0x20, 0xc5, 0xe9, 0x1e69, 0x212b, 0xf900, 0x0344, 0x0f73, 0x0958,
  0x1100, 0x1161, 0x11a8, 0xac00, 0xac01, 0xd7a3, 0x0300, 0x0301, 0x0302, 0x0303, 0x0308, 0x030a, 0x0323,
  0x0327, 0x0328, 0x0334, 0x0345, 0x05b0, 0x05bc, 0x0651, 0x064b, 0x093c, 0x094d, 0x0e38, 0x0e48, 0x1dce,
  0x20d2, 0x302a, 0x3099, 0x309a, 0x304b, 0x30cf, 0x0b47, 0x0b3e, 0x0b57, 0x0dd9, 0x0dcf, 0x0dca, 0x1b05, 0x1b35,
  0x1f00, 0x0391, 0x03b9, 0x0313, 0x0342, 0x4e00, 0x1f600];
const texts = corpus().slice();
for (let i = 0; i < 5000; i++) {
  let s = "";
  const n = 1 + r.int(10);
  for (let k = 0; k < n; k++) s += String.fromCodePoint(r.pick(pool));
  texts.push(s);
}
const inF = path.join(work, "nfc-in.jsonl"), outF = path.join(work, "nfc-out.jsonl");
fs.writeFileSync(inF, texts.map((t) => JSON.stringify({ text: t })).join("\n") + "\n");
const res = spawnSync(bin, ["nfc", "-", inF, outF], { stdio: "inherit" });
if (res.status !== 0) process.exit(1);
const got = fs.readFileSync(outF, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l));
let okc = 0, okd = 0, changed = 0, shown = 0;
for (let i = 0; i < texts.length; i++) {
  const c = texts[i].normalize("NFC"), d = texts[i].normalize("NFD");
  changed += c !== texts[i];
  okc += got[i].nfc === c;
  okd += got[i].nfd === d;
  if ((got[i].nfc !== c || got[i].nfd !== d) && shown++ < 5)
    console.error("MISMATCH", JSON.stringify(texts[i]), JSON.stringify([c, d]), JSON.stringify(got[i]));
}
console.log(`normalization: NFC ${okc}/${texts.length} identical to String.prototype.normalize (${changed} changed by NFC), NFD ${okd}/${texts.length}`);
process.exit(okc === texts.length && okd === texts.length ? 0 : 1);
