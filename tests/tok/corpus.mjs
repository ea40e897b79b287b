// Deterministic test corpus for the tokenizer comparisons (no files
// committed: the same seed gives the same strings on every machine). Only
// long-assigned Unicode blocks are used, so the corpus does not depend on the
// Unicode version of the node that runs it.
//
//   import { corpus, invalidUtf8, benchCorpus } from "./corpus.mjs";
//   corpus()          -> >= 2,000 strings in 14 categories
//   invalidUtf8()     -> byte arrays (Uint8Array) that are not valid UTF-8
//   benchCorpus(MB)   -> documents totalling about MB megabytes

// no lone surrogates (String.prototype.isWellFormed needs node 20)
export const wellFormed = (s) => !/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(s);

export function rng(seed) {
  let s = seed >>> 0;
  const next = () => {
    s = (s + 0x6d2b79f5) >>> 0; // mulberry32
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n) => Math.floor(next() * n);
  const pick = (a) => a[int(a.length)];
  return { next, int, pick };
}

const WORDS = (
  "the of and to in is that it was for on are as with his they at be this from have or by one had not but " +
  "what all were when we there can an your which their said if do will each about how up out them then she " +
  "many some so these would other into has more her two like him see time could no make than first been its " +
  "who now people my made over did down only way find use may water long little very after words called just " +
  "where most know get through back much before go good new write our used me man too any day same right look " +
  "think also around another came come work three word must because does part even place well such here take " +
  "why things help put years different away again off went old number great tell men say small every found " +
  "reasoning policy gradient reward advantage tokenizer transformer attention probability distribution " +
  "optimization convergence verification theorem lemma proof integral derivative matrix vector tensor " +
  "Internationalization antidisestablishmentarianism pneumonoultramicroscopicsilicovolcanoconiosis " +
  "GRPO PPO KL-divergence state-of-the-art e-mail re-entry co-operate O'Brien McDonald's rock'n'roll"
).split(" ");

const CONTRACTIONS = ["it's", "don't", "we're", "I've", "I'm", "you'll", "he'd", "IT'S", "DON'T", "WE'RE",
  "I'VE", "I'M", "YOU'LL", "HE'D", "It'S", "we'Re", "they'Ll", "'s", "'t", "'re", "'ve", "'m", "'ll", "'d",
  "'S", "'T", "'RE", "'VE", "'M", "'LL", "'D", "''", "'''", "rock'n'roll", "’s", "it’s", "'x", "'sa", "'ree"];

const CODE = [
  "def f(x):\n    return x**2 + 1\n",
  "for (int i = 0; i < n; ++i) {\n\tsum += a[i] * b[i];\n}\n",
  "const add = (a, b) => a + b;\nconsole.log(add(1, 2));",
  "#include <stdio.h>\nint main(void) { printf(\"%d\\n\", 42); return 0; }\n",
  "if __name__ == \"__main__\":\n    main()\n",
  "SELECT id, name FROM users WHERE age >= 18 ORDER BY name DESC;",
  "    \n        x = [i for i in range(10) if i % 2 == 0]\n\n\n",
  "<div class=\"a\"><span>&nbsp;&amp;</span></div>",
  "fn main() -> Result<(), Box<dyn Error>> {\n    let v: Vec<u8> = vec![1, 2, 3];\n    Ok(())\n}",
  "x+=1;y-=2;z*=3;w/=4;a%=5;b<<=1;c>>=2;d&=e|f^g;",
  "{\"key\": [1, 2.5, -3e10, true, null], \"nested\": {\"a\": \"b\"}}",
  "\t\tif (x) {\r\n\t\t\treturn;\r\n\t\t}\r\n",
  "# comment\n## heading\n- item 1\n- item 2\n\n```python\nprint('hi')\n```\n",
  "a_b_c __init__ __dict__ self.x_y = None  # type: ignore",
  "$ ls -la /usr/bin | grep -E '^d' > out.txt 2>&1 &&echo ok",
];

const MATH = [
  "\\frac{a}{b} + \\sqrt{x^2 + y^2} = \\int_0^\\infty e^{-x} dx",
  "∑_{i=1}^{n} i = n(n+1)/2", "∀ε>0 ∃δ>0: |x−a|<δ ⇒ |f(x)−f(a)|<ε", "x² + y² = z²", "π ≈ 3.14159",
  "E = mc^2", "a ≤ b ≥ c ≠ d ≈ e ∞", "\\begin{pmatrix} 1 & 0 \\\\ 0 & 1 \\end{pmatrix}",
  "f'(x) = lim_{h→0} (f(x+h) − f(x))/h", "½ + ¼ = ¾", "2^{10} = 1024", "1/3 = 0.333…",
  "\\boxed{42}", "The answer is $\\boxed{-\\frac{17}{3}}$.", "∮ ∇·F dV ⊂ ℝ³ ∩ ℂ ∪ ℕ",
];

const CJK = [
  "你好，世界！", "我爱自然语言处理。", "机器学习是人工智能的一个分支。", "日本語のテキストです。",
  "ひらがなとカタカナ", "東京は日本の首都です。", "안녕하세요 세계", "한국어 텍스트 처리",
  "中文English混合text", "「引用」『二重』【括弧】", "全角スペース　と　半角", "ｆｕｌｌｗｉｄｔｈ １２３",
  "这是一个很长的句子，包含了很多汉字，用来测试分词器在处理中文时的表现。", "漢字かな交じり文",
  "𠀀𠀁𪚥𩸽", "ｶﾀｶﾅ半角", "〇一二三四五六七八九十百千万億",
];

const EMOJI = [
  "😀", "😂🤣", "👍🏽", "👍🏿👎🏻", "👨‍👩‍👧‍👦", "👩‍💻", "🧑🏾‍🚀", "🏳️‍🌈", "🇺🇸🇯🇵🇫🇷", "#️⃣ 1️⃣",
  "❤️", "❤", "☺️", "✌🏼", "🫠", "I ❤️ NY", "🐶🐱🐭 pets", "🔥🔥🔥", "👨‍❤️‍💋‍👨", "🏴‍☠️",
];

const COMBINING = [
  "e\u0301", "a\u0300\u0301", "n\u0303", "o\u0308\u0304", "café", "cafe\u0301", "Ångström", "A\u030angstro\u0308m",
  "\u212b", "\u212a", "\u2126", "Ti\u1ebfng Vi\u1ec7t", "Tie\u0302\u0301ng Vie\u0323\u0302t", "हिन्दी भाषा",
  "क्षत्रिय", "العربية", "مَرْحَبًا", "עִבְרִית", "ภาษาไทย", "ผู้ใหญ่", "\u1100\u1161\u11a8", "\u1112\u1161\u11ab\u1100\u1173\u11af",
  "z\u0335\u0336\u0337", "Z\u0351\u0352\u0357\u035b\u0308\u0303a\u0316\u0317\u0318", "\uf900\uf901\ufa10", "\u0344\u0f73",
  "s\u0323\u0307", "s\u0307\u0323", "\u1e69", "q\u0307\u0323", "\u0958\u0959", "\u00c5\u0327", "ǅ ǆ Ǆ",
  "\u0301alone", " \u0301", "\u0041\u030a\u0301", "o\u031b\u0323", "\u1ee3", "ḉ Ḉ", "\u0385\u1fee",
];

const SPECIALS = ["<|im_start|>", "<|im_end|>", "<|endoftext|>", "<think>", "</think>", "<tool_call>",
  "</tool_call>", "<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>",
  "<|eot_id|>", "<|eom_id|>", "<|python_tag|>", "<|fim_prefix|>", "<|vision_pad|>", "<|reserved_special_token_5|>",
  "<|im_sta", "<|im_start", "|im_start|>", "<<|im_end|>>", "<think", "think>", "<|pad|>", "<answer>", "</answer>"];

const SPACES = [" ", "  ", "   ", "\t", "\n", "\r\n", "\r", "\n\n", "\n\n\n", " \n", "\n ", "\t\n", " \t ",
  "\u00a0", "\u2003", "\u3000", "\ufeff", "\u2028", "\u2029", "\u0085", "\u180e", "\u200b", "\u000b", "\u000c",
  "\u202f", "\u205f", "\u1680"];

const RANGES = [[0x20, 0x7e], [0xa0, 0x24f], [0x370, 0x3ff], [0x400, 0x4ff], [0x590, 0x5ff], [0x600, 0x6ff],
  [0x900, 0x97f], [0xe00, 0xe7f], [0x1100, 0x11ff], [0x2000, 0x206f], [0x20a0, 0x20bf], [0x2190, 0x22ff],
  [0x2500, 0x257f], [0x3040, 0x30ff], [0x4e00, 0x9fff], [0xac00, 0xd7a3], [0xff00, 0xffef], [0x1f300, 0x1f5ff],
  [0x1f600, 0x1f64f], [0x1f900, 0x1f9ff], [0x20000, 0x2a6d6], [0x300, 0x36f], [0x1d400, 0x1d7ff]];

function number(r) {
  const len = 1 + r.int(40);
  let s = String(1 + r.int(9));
  for (let i = 1; i < len; i++) s += String(r.int(10));
  const form = r.int(8);
  if (form === 0) return s;
  if (form === 1) return "-" + s;
  if (form === 2) return s.slice(0, Math.max(1, len >> 1)) + "." + s.slice(len >> 1);
  if (form === 3) return Number(s.slice(0, 15)).toLocaleString("en-US");
  if (form === 4) return s.slice(0, 3) + "e" + (r.int(2) ? "-" : "+") + r.int(300);
  if (form === 5) return "$" + s.slice(0, 7) + ".99";
  if (form === 6) return s.slice(0, 4) + "-" + s.slice(0, 2) + "-" + s.slice(1, 3);
  return "x" + s + "y";
}

function prose(r, n) {
  const out = [];
  for (let i = 0; i < n; i++) {
    let w = r.pick(WORDS);
    if (r.int(10) === 0) w = r.pick(CONTRACTIONS);
    if (i === 0 || r.int(12) === 0) w = w[0].toUpperCase() + w.slice(1);
    out.push(w);
    if (r.int(9) === 0) out[out.length - 1] += r.pick([",", ".", ";", ":", "!", "?", "...", " -", "\"", ")"]);
  }
  return out.join(" ") + r.pick([".", "!", "?", "", "\n"]);
}

function randomUnicode(r, n) {
  let s = "";
  for (let i = 0; i < n; i++) {
    const [a, b] = r.pick(RANGES);
    s += String.fromCodePoint(a + r.int(b - a + 1));
  }
  return s;
}

function mix(r) {
  const parts = [];
  const k = 2 + r.int(6);
  for (let i = 0; i < k; i++) {
    const t = r.int(9);
    if (t === 0) parts.push(prose(r, 1 + r.int(8)));
    else if (t === 1) parts.push(r.pick(CODE));
    else if (t === 2) parts.push(r.pick(MATH));
    else if (t === 3) parts.push(r.pick(CJK));
    else if (t === 4) parts.push(r.pick(EMOJI));
    else if (t === 5) parts.push(r.pick(COMBINING));
    else if (t === 6) parts.push(r.pick(SPECIALS));
    else if (t === 7) parts.push(number(r));
    else parts.push(r.pick(SPACES).repeat(1 + r.int(4)));
  }
  let s = "";
  for (const p of parts) s += p + (r.int(3) ? r.pick(["", " ", " ", "\n", "\t"]) : "");
  return s;
}

export function corpus() {
  const r = rng(20240613);
  const out = ["", " ", "a", "\n", "  ", "Hello world", "hello   world", "Hello\n\nworld", "   leading", "trailing   ",
    "ab\r\ncd\re\nf", "12", "123", "1234", "12345678901234567890", "3.14159", "-0.5", "1,000,000", "v1.2.3"];
  for (const c of CONTRACTIONS) out.push(c, "x" + c, c + " y", "He said " + c);
  for (const c of CODE) out.push(c);
  for (const m of MATH) out.push(m);
  for (const c of CJK) out.push(c, " " + c, c + "abc");
  for (const e of EMOJI) out.push(e, "a" + e + "b", " " + e, e + e);
  for (const c of COMBINING) out.push(c, " " + c + " x", c.normalize("NFD"), c.normalize("NFC"));
  for (const sp of SPECIALS) out.push(sp, "a" + sp + "b", " " + sp + " ", sp + sp, "x" + sp + "\n" + sp + "y");
  for (const a of SPACES) for (const b of SPACES.slice(0, 8)) out.push("a" + a + b + "b");
  for (let n = 1; n <= 60; n++) out.push("x" + " ".repeat(n) + "y", " ".repeat(n), "\n".repeat(n % 7 + 1) + " ".repeat(n));
  for (let n = 1; n <= 45; n++) out.push("1234567890".repeat(5).slice(0, n), "abc" + "9".repeat(n) + "def");
  const cats = [
    () => prose(r, 3 + r.int(40)),
    () => r.pick(CODE) + "\n" + r.pick(CODE),
    () => r.pick(MATH) + " " + number(r) + " " + r.pick(MATH),
    () => Array.from({ length: 1 + r.int(8) }, () => number(r)).join(r.pick([" ", ", ", "+", "*", "\n", ""])),
    () => Array.from({ length: 1 + r.int(5) }, () => r.pick(CJK)).join(r.pick(["", " ", "。", "\n"])),
    () => Array.from({ length: 1 + r.int(6) }, () => r.pick(EMOJI)).join(r.pick(["", " ", "\u200d"])),
    () => Array.from({ length: 1 + r.int(6) }, () => r.pick(COMBINING)).join(r.pick(["", " "])),
    () => Array.from({ length: 1 + r.int(12) }, () => r.pick(SPACES)).join(r.pick(["", "a", ".", "1"])),
    () => prose(r, 4) + r.pick(SPECIALS) + prose(r, 4) + r.pick(SPECIALS),
    () => randomUnicode(r, 1 + r.int(30)),
    () => mix(r),
    () => mix(r) + mix(r),
  ];
  for (let i = 0; i < 1500; i++) out.push(cats[i % cats.length]());
  // long strings: long words (BPE heap path), long runs, a long document
  out.push("a".repeat(300), "ab".repeat(400), "ﷺ".repeat(50), " ".repeat(3000) + "x", "\n".repeat(500),
    "9".repeat(1000), "😀".repeat(200), Array.from({ length: 60 }, () => mix(r)).join("\n"));
  for (let i = 0; i < 20; i++) out.push(Array.from({ length: 30 }, () => prose(r, 20)).join("\n\n"));
  return out;
}

export function invalidUtf8() {
  const r = rng(777);
  const fixed = [[0x80], [0xbf], [0xc0, 0xaf], [0xc1, 0xbf], [0xe0, 0x80, 0xaf], [0xed, 0xa0, 0x80],
    [0xed, 0xbf, 0xbf], [0xf0, 0x80, 0x80, 0xaf], [0xf4, 0x90, 0x80, 0x80], [0xf5, 0x80], [0xff], [0xfe, 0xff],
    [0xe2, 0x82], [0xe2], [0xf0, 0x9f, 0x98], [0x61, 0xe2, 0x82, 0x62], [0xc3], [0xc3, 0x28], [0xa0, 0xa1],
    [0xe1, 0x80, 0xe1, 0x80, 0x41], [0xf0, 0x9f, 0x98, 0x80, 0x80], [0x3c, 0x7c, 0xff, 0x7c, 0x3e]];
  const out = fixed.map((b) => Uint8Array.from(b));
  const enc = new TextEncoder();
  for (let i = 0; i < 200; i++) {
    const base = Array.from(enc.encode(mix(r).slice(0, 40)));
    const k = 1 + r.int(4);
    for (let j = 0; j < k; j++) {
      const pos = r.int(base.length + 1);
      const kind = r.int(4);
      if (kind === 0) base.splice(pos, 0, 0x80 + r.int(0x40));
      else if (kind === 1) base.splice(pos, 0, 0xc0 + r.int(0x40));
      else if (kind === 2 && base.length) base.splice(pos, 1);
      else base.splice(pos, 0, 0xf0 + r.int(16), 0x80 + r.int(0x40));
    }
    out.push(Uint8Array.from(base));
  }
  return out;
}

export function benchCorpus(mb) {
  const r = rng(4242);
  const docs = [];
  let bytes = 0;
  const enc = new TextEncoder();
  while (bytes < mb * 1e6) {
    const t = r.int(10);
    let d;
    if (t < 5) d = Array.from({ length: 5 + r.int(20) }, () => prose(r, 8 + r.int(30))).join("\n\n");
    else if (t < 7) d = Array.from({ length: 5 + r.int(20) }, () => r.pick(CODE)).join("\n");
    else if (t < 8) d = Array.from({ length: 5 + r.int(20) }, () => r.pick(CJK) + r.pick(MATH)).join("\n");
    else d = Array.from({ length: 10 + r.int(20) }, () => mix(r)).join("\n");
    docs.push(d);
    bytes += enc.encode(d).length;
  }
  return docs;
}
