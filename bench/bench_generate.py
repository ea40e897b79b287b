#!/usr/bin/python3
"""PyTorch side of the generation benchmark (run with /usr/bin/python3): the
same weights (HF-layout config.json + safetensors written by thinkrl), the
same work as bench_generate.c: P random prompts of T tokens, N new tokens
each, temperature-1 sampling with the policy log-prob of every token, eos
ignored; then one prompt alone (batch-1 decode).

  bench_generate.py --model DIR [--prompts 64] [--prompt-len 32] [--new 128]
                    [--threads 2] [--seed 1] [--json] [--check]

The decoder is tests/pyref/model.py's float32 BenchModel weights driven with
a KV cache: one batched prefill of the prompts, then one-token steps whose
keys and values are written in place into a preallocated (B, KVH, T, HS)
cache (as transformers' static cache does) and attended with one query per
sequence. Under torch.inference_mode(). --check compares the cached logits
with a full forward of BenchModel (the two paths must agree).

Threads: as bench_train.py, OMP_NUM_THREADS and OPENBLAS_NUM_THREADS default
to --threads and OMP_WAIT_POLICY to PASSIVE, set before torch is imported.
"""

import argparse
import json
import math
import os
import resource
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torchenv  # noqa: E402
import time

torch = F = pm = stio = None


def import_torch(threads):
    global torch, F, pm, stio
    torch, F, pm, stio = torchenv.import_torch(threads)


def load_weights(d):
    idx = os.path.join(d, "model.safetensors.index.json")
    if os.path.exists(idx):
        with open(idx) as f:
            shards = sorted(set(json.load(f)["weight_map"].values()))
        out = {}
        for s in shards:
            out.update(stio.read_safetensors(os.path.join(d, s)))
        return out
    return stio.read_safetensors(os.path.join(d, "model.safetensors"))


class CachedDecoder:
    """KV-cache generation over a BenchModel's parameters."""

    def __init__(self, bm, B, maxT):
        self.m = bm
        c = bm.c
        self.c = c
        L, KVH, HS = c["L"], c["KVH"], c["HS"]
        self.k = [torch.zeros(B, KVH, maxT, HS) for _ in range(L)]
        self.v = [torch.zeros(B, KVH, maxT, HS) for _ in range(L)]
        self.len = 0
        # RoPE as HF computes it: angle = pos * inv_freq in fp32
        pos = torch.arange(maxT, dtype=torch.float32)
        ang = pos[:, None] * bm.inv_freq[None, :]
        ang = torch.cat([ang, ang], dim=-1)
        self.cos, self.sin = torch.cos(ang), torch.sin(ang)

    def forward(self, ids):
        """ids (B, T) appended after what the cache holds; returns the logits
        (B, V) of the last position."""
        m, c = self.m, self.c
        B, T = ids.shape
        NH, KVH, HS, eps = c["NH"], c["KVH"], c["HS"], c["eps"]
        G = NH // KVH
        qd, kd = NH * HS, KVH * HS
        p0, p1 = self.len, self.len + T
        cos, sin = self.cos[p0:p1], self.sin[p0:p1]
        scale = 1.0 / math.sqrt(HS)
        mask = None
        if T > 1:
            mask = torch.full((T, p1), float("-inf")).triu(p0 + 1)
        x = F.embedding(ids, m.embed)
        for li, lw in enumerate(m.layers):
            h = pm.rmsnorm(x, lw.ln1, eps)
            qkv = F.linear(h, lw.wqkv, lw.bqkv)
            q, k, v = qkv.split([qd, kd, kd], dim=-1)
            q = pm.rope_apply(q.view(B, T, NH, HS).transpose(1, 2), cos, sin)
            k = pm.rope_apply(k.view(B, T, KVH, HS).transpose(1, 2), cos, sin)
            self.k[li][:, :, p0:p1] = k
            self.v[li][:, :, p0:p1] = v.view(B, T, KVH, HS).transpose(1, 2)
            K, V = self.k[li][:, :, :p1], self.v[li][:, :, :p1]
            # GQA: the G query heads of kv head j as one (G*T) block
            qg = q.reshape(B, KVH, G * T, HS)
            s = torch.matmul(qg, K.transpose(-1, -2)) * scale          # (B, KVH, G*T, p1)
            if mask is not None:
                s = s.view(B, KVH, G, T, p1) + mask
                s = s.view(B, KVH, G * T, p1)
            a = torch.softmax(s, dim=-1)
            o = torch.matmul(a, V).view(B, NH, T, HS).transpose(1, 2).reshape(B, T, qd)
            x = x + F.linear(o, lw.wo, lw.bo)
            h = pm.rmsnorm(x, lw.ln2, eps)
            gu = F.linear(h, lw.wgu, lw.bgu)
            gt, up = gu.chunk(2, dim=-1)
            x = x + F.linear(F.silu(gt) * up, lw.wd, lw.bd)
        self.len = p1
        x = pm.rmsnorm(x[:, -1], m.norm, eps)
        return F.linear(x, m.embed if m.head is None else m.head)


def generate(bm, prompts, new, gen):
    """prompts (B, T) -> generated ids (B, new) and their policy log-probs."""
    B, T = prompts.shape
    dec = CachedDecoder(bm, B, T + new)
    out = torch.empty(B, new, dtype=torch.long)
    lps = torch.empty(B, new)
    logits = dec.forward(prompts)
    for t in range(new):
        logp = torch.log_softmax(logits, dim=-1)
        tok = torch.multinomial(logp.exp(), 1, generator=gen)           # temperature 1
        out[:, t] = tok[:, 0]
        lps[:, t] = logp.gather(1, tok)[:, 0]
        if t + 1 < new:
            logits = dec.forward(tok)
    return out, lps


def check(bm, prompts, gen):
    """Cached logits against a full forward of BenchModel (same weights)."""
    B = min(4, prompts.shape[0])
    p = prompts[:B]
    dec = CachedDecoder(bm, B, p.shape[1] + 8)
    z = [dec.forward(p)]
    seq = p
    for _ in range(8):
        tok = torch.multinomial(torch.softmax(z[-1], -1), 1, generator=gen)
        seq = torch.cat([seq, tok], 1)
        z.append(dec.forward(tok))
    full = bm(seq)[:, p.shape[1] - 1:]
    got = torch.stack(z, 1)
    return (got - full).abs().max().item()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="directory with config.json and model.safetensors")
    ap.add_argument("--prompts", type=int, default=64, help="prompts (default 64)")
    ap.add_argument("--prompt-len", type=int, default=32, help="tokens per prompt (default 32)")
    ap.add_argument("--new", type=int, default=128, help="new tokens per prompt (default 128)")
    ap.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    ap.add_argument("--seed", type=int, default=1, help="seed (default 1)")
    ap.add_argument("--json", action="store_true", help="print one JSON line")
    ap.add_argument("--check", action="store_true", help="also compare cached and full-forward logits")
    args = ap.parse_args()
    if args.prompts < 1 or args.prompt_len < 1 or args.new < 1:
        ap.error("sizes must be positive")
    import_torch(args.threads)
    with open(os.path.join(args.model, "config.json")) as f:
        cfg = json.load(f)
    bm = pm.BenchModel(cfg, load_weights(args.model))
    bm.eval()
    V = bm.c["V"]
    gen = torch.Generator().manual_seed(args.seed)
    prompts = torch.randint(0, V, (args.prompts, args.prompt_len), generator=gen)
    res = {"impl": "torch", "prompts": args.prompts, "prompt_len": args.prompt_len, "new_tokens": args.new,
           "threads": args.threads}
    with torch.inference_mode():
        if args.check:
            res["check_max_abs_diff"] = check(bm, prompts, gen)
        generate(bm, prompts, 4, gen)  # warm-up
        t0 = time.perf_counter()
        out, lps = generate(bm, prompts, args.new, gen)
        dt = time.perf_counter() - t0
        t0 = time.perf_counter()
        generate(bm, prompts[:1], args.new, gen)
        dt1 = time.perf_counter() - t0
    res.update({
        "tokens_per_s": round(out.numel() / dt, 2), "seconds": round(dt, 4), "generated": out.numel(),
        "batch1_tokens_per_s": round(args.new / dt1, 2), "batch1_seconds": round(dt1, 4),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS", ""),
        "openblas_num_threads": os.environ.get("OPENBLAS_NUM_THREADS", ""),
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", ""),
    })
    res.update(torchenv.blas_info())
    if args.json:
        print(json.dumps(res))
    else:
        print("torch: %d prompts x %d tokens, %d new: %.0f tokens/s (%.2fs); batch-1 decode %.0f tokens/s%s"
              % (args.prompts, args.prompt_len, args.new, res["tokens_per_s"], dt, res["batch1_tokens_per_s"],
                 ", cached vs full max|diff| %.2g" % res["check_max_abs_diff"] if args.check else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
