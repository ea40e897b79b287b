#!/usr/bin/env node
// Generates src/tokenizer/unicode_data.c: the Unicode tables the tokenizer
// needs, taken from this node's own Unicode data (ICU), because transformers.js
// (the reference) runs on node and uses its RegExp \p{L} \p{N} \s and
// String.prototype.normalize("NFC"). Nothing here is copied from a table file:
// every property is measured by asking node about each code point.
//
//   node scripts/gen_unicode_nfc.mjs > src/tokenizer/unicode_data.c
//
// Tables written:
//   flags (two-level, u8): L (\p{L}), N (\p{N}), WS (JS \s), SAFE (NFC-inert
//       starter: no decomposition, combining class 0, never the second half of
//       a composition; text made only of these is already NFC), M (\p{M}),
//       NFDSAFE (no decomposition and combining class 0).
//   ccc (two-level, u8): combining class *rank* (0 = starter); only the order
//       matters for canonical reordering, so ranks are measured by letting
//       NFD reorder pairs of marks.
//   decomp: full canonical decomposition of every code point that has one
//       (Hangul syllables excluded: they are algorithmic).
//   compose: primary composition pairs (first, second) -> composite.
// The script checks its own tables by running the NFC algorithm on them in JS
// and comparing with String.prototype.normalize on all code points and on
// random mark-heavy strings; it exits non-zero if any differ.

const MAXCP = 0x110000;
const isSurr = (c) => c >= 0xd800 && c <= 0xdfff;
const S = (c) => String.fromCodePoint(c);
const cps = (s) => Array.from(s, (x) => x.codePointAt(0));
const reL = /^\p{L}$/u, reN = /^\p{N}$/u, reWS = /^\s$/u, reM = /^\p{M}$/u;
const SBase = 0xac00, LBase = 0x1100, VBase = 0x1161, TBase = 0x11a7;
const LCount = 19, VCount = 21, TCount = 28, NCount = VCount * TCount, SCount = LCount * NCount;
const isHangulSyl = (c) => c >= SBase && c < SBase + SCount;

// ---- decompositions ---------------------------------------------------------
const decomp = new Map(); // cp -> [cps]
for (let c = 0; c < MAXCP; c++) {
  if (isSurr(c) || isHangulSyl(c)) continue;
  const d = S(c).normalize("NFD");
  if (d !== S(c)) decomp.set(c, cps(d));
}

// ---- combining classes (as ranks) ------------------------------------------
// ccc(a) > ccc(b) > 0  <=>  NFD(a b) == b a.  A mark m is a non-starter iff it
// reorders with U+0334 (ccc 1) or U+0301 (ccc 230) in the right direction.
const nonstarters = [];
for (let c = 0; c < MAXCP; c++) {
  if (isSurr(c) || decomp.has(c) || isHangulSyl(c)) continue;
  const m = S(c);
  if ((m + "\u0334").normalize("NFD") === "\u0334" + m ||
      ("\u0301" + m).normalize("NFD") === m + "\u0301" ||
      c === 0x0334 || c === 0x0301)
    nonstarters.push(c);
}
const cmp = (a, b) => {
  const A = S(a), B = S(b);
  if ((A + B).normalize("NFD") === B + A) return 1;
  if ((B + A).normalize("NFD") === A + B) return -1;
  return 0;
};
nonstarters.sort(cmp);
const ccc = new Uint8Array(MAXCP);
let rank = 0;
for (let i = 0; i < nonstarters.length; i++) {
  if (i === 0 || cmp(nonstarters[i - 1], nonstarters[i]) !== 0) rank++;
  ccc[nonstarters[i]] = rank;
}
if (rank > 255) throw new Error("too many combining classes");

// ---- composition pairs ------------------------------------------------------
const pairs = []; // [first, second, composite]
for (const [p, d] of decomp) {
  if (d.length < 2 || S(p).normalize("NFC") !== S(p)) continue; // singleton or excluded
  let found = false;
  for (let k = d.length - 1; k >= 0 && !found; k--) {
    const rest = d.slice(0, k).concat(d.slice(k + 1));
    const a = cps(String.fromCodePoint(...rest).normalize("NFC"));
    if (a.length !== 1) continue;
    if ((S(a[0]) + S(d[k])).normalize("NFC") === S(p)) {
      pairs.push([a[0], d[k], p]);
      found = true;
    }
  }
  if (!found) throw new Error("no composition pair for U+" + p.toString(16));
}
pairs.sort((x, y) => x[0] - y[0] || x[1] - y[1]);
const pairMap = new Map(pairs.map(([a, b, p]) => [a * MAXCP + b, p]));
const seconds = new Set(pairs.map((x) => x[1]));

// ---- flags ---------------------------------------------------------------------
const F_L = 1, F_N = 2, F_WS = 4, F_SAFE = 8, F_M = 16, F_NFDSAFE = 32;
const flags = new Uint8Array(MAXCP);
for (let c = 0; c < MAXCP; c++) {
  if (isSurr(c)) continue;
  const s = S(c);
  let f = 0;
  if (reL.test(s)) f |= F_L;
  if (reN.test(s)) f |= F_N;
  if (reWS.test(s)) f |= F_WS;
  if (reM.test(s)) f |= F_M;
  const jamoVT = (c >= VBase && c < VBase + VCount) || (c > TBase && c < TBase + TCount);
  if (!decomp.has(c) && !isHangulSyl(c) && ccc[c] === 0 && !seconds.has(c) && !jamoVT) f |= F_SAFE;
  if (!decomp.has(c) && !isHangulSyl(c) && ccc[c] === 0) f |= F_NFDSAFE;
  flags[c] = f;
}

// ---- self-check: NFC from these tables == String.prototype.normalize --------
function nfc(input, compose = true) {
  const d = [];
  for (const c of input) {
    if (isHangulSyl(c)) {
      const si = c - SBase;
      d.push(LBase + Math.floor(si / NCount), VBase + Math.floor((si % NCount) / TCount));
      if (si % TCount) d.push(TBase + (si % TCount));
    } else if (decomp.has(c)) d.push(...decomp.get(c));
    else d.push(c);
  }
  for (let i = 1; i < d.length; i++) { // stable insertion sort of mark runs
    const c = d[i], k = ccc[c];
    if (k === 0) continue;
    let j = i - 1;
    while (j >= 0 && ccc[d[j]] > k) { d[j + 1] = d[j]; j--; }
    d[j + 1] = c;
  }
  if (!compose) return d;
  const out = [];
  let starter = -1, lastcc = -1;
  for (const c of d) {
    const k = ccc[c];
    if (starter >= 0 && (lastcc < k || (lastcc === 0 && out.length - 1 === starter))) {
      const s = out[starter];
      let comp = -1;
      if (s >= LBase && s < LBase + LCount && c >= VBase && c < VBase + VCount)
        comp = SBase + ((s - LBase) * VCount + (c - VBase)) * TCount;
      else if (isHangulSyl(s) && (s - SBase) % TCount === 0 && c > TBase && c < TBase + TCount)
        comp = s + (c - TBase);
      else comp = pairMap.get(s * MAXCP + c) ?? -1;
      if (comp >= 0 && (lastcc < k || out.length - 1 === starter)) {
        // not blocked: either adjacent to the starter or every mark between has lower class
        out[starter] = comp;
        continue;
      }
    }
    if (k === 0) { starter = out.length; lastcc = 0; }
    else lastcc = k;
    out.push(c);
  }
  return out;
}
let bad = 0;
const check = (arr) => {
  for (const form of ["NFC", "NFD"]) {
    const want = cps(String.fromCodePoint(...arr).normalize(form));
    const got = nfc(arr, form === "NFC");
    if (want.length !== got.length || want.some((x, i) => x !== got[i])) {
      if (bad++ < 10) console.error(form + " mismatch", arr.map((x) => x.toString(16)), want, got);
    }
  }
};
for (let c = 0; c < MAXCP; c++) if (!isSurr(c)) check([c]);
let seed = 12345;
const rnd = (n) => { seed = (seed * 1103515245 + 12345) >>> 0; return (seed >>> 8) % n; };
const pool = [...new Set([...nonstarters, ...pairs.map((x) => x[0]), ...pairs.map((x) => x[2]),
  0x41, 0x61, 0x20, 0x1100, 0x1161, 0x11a8, 0xac00, 0xac01, 0x0f73, 0x0344])];
for (let t = 0; t < 300000; t++) {
  const len = 2 + rnd(6), arr = [];
  for (let i = 0; i < len; i++) arr.push(pool[rnd(pool.length)]);
  check(arr);
}
for (const [a, b] of pairs) check([a, 0x0327, b]), check([a, 0x0301, b]), check([a, b, 0x0334]);
if (bad) { console.error(`${bad} NFC mismatches`); process.exit(1); }

// ---- emit C -------------------------------------------------------------------
function twoLevel(arr) {
  const blocks = [], index = new Map(), stage1 = [];
  for (let b = 0; b < MAXCP / 256; b++) {
    const blk = arr.slice(b * 256, b * 256 + 256);
    const key = blk.join(",");
    if (!index.has(key)) { index.set(key, blocks.length); blocks.push(blk); }
    stage1.push(index.get(key));
  }
  return { stage1, blocks };
}
const lines = [];
const emitArr = (type, name, arr, per = 24) => {
  lines.push(`const ${type} ${name}[${arr.length}] = {`);
  for (let i = 0; i < arr.length; i += per) lines.push("    " + arr.slice(i, i + per).join(",") + ",");
  lines.push("};");
};
lines.push("/* Generated by scripts/gen_unicode_nfc.mjs from node " + process.version +
  " (Unicode " + process.versions.unicode + ", ICU " + process.versions.icu + "). Do not edit.");
lines.push(" * Character flags (\\p{L}, \\p{N}, \\p{M}, JS \\s, NFC-inert), canonical combining");
lines.push(" * class ranks, canonical decompositions and composition pairs. */");
lines.push('#include "tokenizer/unicode.h"', "");
lines.push(`const char uni_version[] = "${process.versions.unicode}";`);
for (const [name, arr] of [["uni_flags", flags], ["uni_ccc", ccc]]) {
  const { stage1, blocks } = twoLevel(Array.from(arr));
  emitArr("uint16_t", name + "_stage1", stage1);
  emitArr("uint8_t", name + "_stage2", blocks.flat(), 32);
}
const dkeys = [...decomp.keys()].sort((a, b) => a - b);
const dpool = [], dent = [];
for (const c of dkeys) { const d = decomp.get(c); dent.push(c, dpool.length, d.length); dpool.push(...d); }
lines.push(`const int uni_ndecomp = ${dkeys.length};`);
emitArr("uint32_t", "uni_decomp_index", dent, 12);
emitArr("uint32_t", "uni_decomp_pool", dpool, 12);
lines.push(`const int uni_ncompose = ${pairs.length};`);
emitArr("uint32_t", "uni_compose", pairs.flat(), 12);
process.stdout.write(lines.join("\n") + "\n");
console.error(`gen_unicode_nfc: ${dkeys.length} decompositions, ${pairs.length} pairs, ` +
  `${nonstarters.length} non-starters in ${rank} classes; self-check ok`);
